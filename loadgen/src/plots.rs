//! PNG plots of a report, drawn with plotters: throughput per scenario against the ceilings,
//! latency percentiles per scenario, and the mixed journey as the offered rate steps up.
use crate::report::{Report, ScenarioResult};
use anyhow::{anyhow, Context, Result};
use plotters::{coord::ranged1d::SegmentValue, prelude::*};
use std::path::Path;

const FONT_FILE: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// plotters draws text with ab_glyph from a font it is given (no fontconfig): DejaVu Sans,
/// from Debian's fonts-dejavu-core, which `make setup` installs.
fn register_font() -> Result<()> {
    let path = std::env::var("LOADGEN_FONT").unwrap_or_else(|_| FONT_FILE.to_owned());
    let bytes =
        std::fs::read(&path).with_context(|| format!("{path}: install fonts-dejavu-core or set LOADGEN_FONT"))?;
    // plotters keeps the font for the life of the process.
    plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into_boxed_slice()))
        .map_err(|_| anyhow!("{path} is not a TrueType font"))
}

fn plot_error<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing failed: {e:?}")
}

/// Writes `<stem>-throughput.png`, `<stem>-latency.png` and `<stem>-journey.png` into `dir`
/// and answers their file names with a title each.
pub fn draw(report: &Report, dir: &Path, stem: &str) -> Result<Vec<(String, &'static str)>> {
    register_font()?;
    let files = [
        (format!("{stem}-throughput.png"), "Throughput per scenario and ceiling (log scale)"),
        (format!("{stem}-latency.png"), "Latency percentiles per scenario (log scale)"),
        (format!("{stem}-journey.png"), "Mixed journey: offered rate against achieved rate and p99"),
    ];
    throughput(report, &dir.join(&files[0].0))?;
    latency(report, &dir.join(&files[1].0))?;
    journey(report, &dir.join(&files[2].0))?;
    Ok(files.into_iter().collect())
}

fn throughput(report: &Report, file: &Path) -> Result<()> {
    let c = &report.ceilings;
    let mut bars: Vec<(String, f64, RGBColor)> = Vec::new();
    for r in c.healthz.iter().chain(&report.scenarios) {
        let colour = if r.name.ends_with("/healthz") { RGBColor(150, 150, 150) } else { BLUE };
        bars.push((r.name.clone(), r.calls_per_s, colour));
    }
    let ceiling = RGBColor(200, 80, 40);
    bars.push(("pgbench -S".to_owned(), c.pgbench_select_tps, ceiling));
    bars.push(("redis GET".to_owned(), c.redis_get_per_s, ceiling));
    bars.push(("redis SET".to_owned(), c.redis_set_per_s, ceiling));
    bars.push(("argon2 raw".to_owned(), c.argon2_hashes_per_s, ceiling));

    // Horizontal bars: the scenario names read along the y axis.
    let root = BitMapBackend::new(file, (1400, 120 + 40 * bars.len() as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let top = bars.iter().map(|b| b.1).fold(10.0, f64::max) * 2.0;
    let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    let last = bars.len() as i32 - 1;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Throughput, {} — blue: endpoints, grey: /healthz, red: ceilings", report.date),
            ("sans-serif", 22),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(260)
        .build_cartesian_2d((1f64..top).log_scale(), (0..last).into_segmented())
        .map_err(plot_error)?;
    let label = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) => names.get(*i as usize).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(bars.len())
        .y_label_formatter(&label)
        .label_style(("sans-serif", 15))
        .x_desc("calls per second (log scale)")
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(plot_error)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, value, colour))| {
            let i = i as i32;
            let mut bar = Rectangle::new(
                [(1.0, SegmentValue::Exact(i)), (value.max(1.0), SegmentValue::Exact(i + 1))],
                colour.filled(),
            );
            bar.set_margin(6, 6, 0, 0);
            bar
        }))
        .map_err(plot_error)?;
    root.present().map_err(plot_error)
}

fn latency(report: &Report, file: &Path) -> Result<()> {
    let root = BitMapBackend::new(file, (1400, 760)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let rows: Vec<&ScenarioResult> =
        report.scenarios.iter().chain(&report.ceilings.healthz).filter(|r| r.calls > 0).collect();
    let top = rows.iter().map(|r| r.p999_ms).fold(1.0, f64::max) * 2.0;
    let quantiles = ["p50", "p90", "p99", "p99.9"];
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("Latency percentiles, {}", report.date), ("sans-serif", 22))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d((0..quantiles.len() as i32 - 1).into_segmented(), (0.05f64..top).log_scale())
        .map_err(plot_error)?;
    let label = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) => quantiles.get(*i as usize).map(|q| q.to_string()).unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .x_labels(quantiles.len())
        .x_label_formatter(&label)
        .y_desc("milliseconds")
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(plot_error)?;
    for (index, r) in rows.iter().enumerate() {
        let colour = Palette99::pick(index).stroke_width(3);
        let points = [r.p50_ms, r.p90_ms, r.p99_ms, r.p999_ms]
            .into_iter()
            .enumerate()
            .map(|(i, ms)| (SegmentValue::CenterOf(i as i32), ms.max(0.05)));
        chart
            .draw_series(LineSeries::new(points, colour))
            .map_err(plot_error)?
            .label(r.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], Palette99::pick(index).stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(plot_error)?;
    root.present().map_err(plot_error)
}

fn journey(report: &Report, file: &Path) -> Result<()> {
    let root = BitMapBackend::new(file, (1400, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let (left, right) = root.split_horizontally(700);
    let offered: Vec<(f64, &ScenarioResult)> = report
        .journey
        .steps
        .iter()
        .map(|s| (s.load.split('/').next().and_then(|v| v.trim().parse().ok()).unwrap_or(0.0), s))
        .collect();
    let max_rate = offered.iter().map(|(o, s)| o.max(s.requests_per_s)).fold(100.0, f64::max) * 1.1;

    let mut rates = ChartBuilder::on(&left)
        .caption("Achieved shopper requests/s", ("sans-serif", 20))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..max_rate, 0f64..max_rate)
        .map_err(plot_error)?;
    rates
        .configure_mesh()
        .x_desc("offered calls/s")
        .y_desc("requests/s")
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(plot_error)?;
    rates
        .draw_series(LineSeries::new([(0.0, 0.0), (max_rate, max_rate)], RGBColor(180, 180, 180)))
        .map_err(plot_error)?;
    rates
        .draw_series(
            LineSeries::new(offered.iter().map(|(o, s)| (*o, s.requests_per_s)), BLUE.stroke_width(3)).point_size(5),
        )
        .map_err(plot_error)?;

    let top = offered.iter().map(|(_, s)| s.p99_ms).fold(150.0, f64::max) * 1.2;
    let mut p99 = ChartBuilder::on(&right)
        .caption("p99 latency (the red line is 100 ms)", ("sans-serif", 20))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..max_rate, (0.5f64..top).log_scale())
        .map_err(plot_error)?;
    p99.configure_mesh()
        .x_desc("offered calls/s")
        .y_desc("ms")
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(plot_error)?;
    p99.draw_series(LineSeries::new([(0.0, 100.0), (max_rate, 100.0)], RED.stroke_width(2))).map_err(plot_error)?;
    p99.draw_series(
        LineSeries::new(offered.iter().map(|(o, s)| (*o, s.p99_ms.max(0.5))), BLUE.stroke_width(3)).point_size(5),
    )
    .map_err(plot_error)?;
    root.present().map_err(plot_error)
}
