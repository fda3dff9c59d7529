//! The benchmark's results: one JSON document and a markdown report beside it.
use crate::driver::Measurement;
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, fmt::Write};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub name: String,
    pub service: String,
    /// "64 connections" or "1000/s offered".
    pub load: String,
    pub calls: u64,
    pub requests: u64,
    pub errors: u64,
    pub error_reasons: BTreeMap<String, u64>,
    pub calls_per_s: f64,
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl ScenarioResult {
    pub fn new(name: impl Into<String>, service: &'static str, load: String, m: &Measurement) -> Self {
        ScenarioResult {
            name: name.into(),
            service: service.to_owned(),
            load,
            calls: m.calls,
            requests: m.requests,
            errors: m.errors,
            error_reasons: m.error_reasons.clone(),
            calls_per_s: m.calls_per_s(),
            requests_per_s: m.requests_per_s(),
            p50_ms: m.ms(0.5),
            p90_ms: m.ms(0.9),
            p99_ms: m.ms(0.99),
            p999_ms: m.ms(0.999),
            max_ms: m.latency_us.max() as f64 / 1000.0,
        }
    }
}

/// An endpoint's rate against the ceiling it cannot beat.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ratio {
    pub what: String,
    pub rate: f64,
    pub ceiling: String,
    pub ceiling_rate: f64,
    pub ratio: f64,
    /// The target, if it sets one.
    pub target: Option<f64>,
}

impl Ratio {
    pub fn new(what: &str, rate: f64, ceiling: &str, ceiling_rate: f64, target: Option<f64>) -> Self {
        let ratio = if ceiling_rate > 0.0 { rate / ceiling_rate } else { 0.0 };
        Ratio { what: what.to_owned(), rate, ceiling: ceiling.to_owned(), ceiling_rate, ratio, target }
    }

    fn verdict(&self) -> &'static str {
        match self.target {
            Some(t) if self.ratio >= t => "met",
            Some(_) => "**not met**",
            None => "",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ceilings {
    pub pgbench_select_tps: f64,
    pub pgbench_clients: usize,
    pub redis_get_per_s: f64,
    pub redis_set_per_s: f64,
    pub redis_clients: usize,
    pub argon2_hashes_per_s: f64,
    /// `mariadb-slap` transactions/s storing a charge's rows (reports before it have none).
    #[serde(default)]
    pub mariadb_charge_rows_per_s: f64,
    #[serde(default)]
    pub mariadb_clients: usize,
    /// Each service's `/healthz` at the concurrency of its own scenarios.
    pub healthz: Vec<ScenarioResult>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Journey {
    /// Offered rates stepped up until p99 reached 100 ms or an error appeared.
    pub steps: Vec<ScenarioResult>,
    /// The highest offered rate met with p99 < 100 ms and no errors, in shopper requests/s.
    pub sustained_requests_per_s: Option<f64>,
}

/// Checkout stepped up through connection counts: its capacity, against its stores' ceiling.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckoutSaturation {
    pub steps: Vec<ScenarioResult>,
    /// The most checkouts/s of a step with p99 < 250 ms and no errors.
    pub best_per_s: Option<f64>,
    pub ceiling: crate::checkout_ceiling::CheckoutCeiling,
}

impl CheckoutSaturation {
    /// The p99 a step must stay under to count.
    pub const P99_MS: f64 = 250.0;

    pub fn new(steps: Vec<ScenarioResult>, ceiling: crate::checkout_ceiling::CheckoutCeiling) -> Self {
        let best_per_s =
            steps.iter().filter(|s| s.errors == 0 && s.p99_ms < Self::P99_MS).map(|s| s.calls_per_s).reduce(f64::max);
        CheckoutSaturation { steps, best_per_s, ceiling }
    }

    /// The best rate as a share of the ceiling.
    pub fn ratio(&self) -> Option<f64> {
        self.best_per_s.filter(|_| self.ceiling.checkouts_per_s > 0.0).map(|b| b / self.ceiling.checkouts_per_s)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Resources {
    pub service: String,
    pub idle_rss_mib: f64,
    /// Percent of one core the service used at rest; `None` in runs before it was measured.
    #[serde(default)]
    pub idle_cpu_percent: Option<f64>,
    pub journey_rss_mib: f64,
    /// CPU seconds (user + system) the service spent per 1,000 shopper requests of the journey.
    pub cpu_s_per_1000_requests: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub date: String,
    /// When the run started (`%Y-%m-%dT%H%MZ`), naming its files: two runs of a day both stay.
    /// Reports written before runs were named have none and go by their date.
    #[serde(default)]
    pub run: String,
    pub machine: Machine,
    pub warm_up_s: f64,
    pub duration_s: f64,
    pub headline: Vec<Ratio>,
    pub ceilings: Ceilings,
    pub scenarios: Vec<ScenarioResult>,
    pub journey: Journey,
    /// Reports before checkout was stepped up have none.
    #[serde(default)]
    pub checkout: Option<CheckoutSaturation>,
    pub resources: Vec<Resources>,
    pub wall_time_s: f64,
}

fn scenario_rows(out: &mut String, rows: &[ScenarioResult]) {
    out.push_str("| scenario | load | calls/s | requests/s | p50 ms | p90 ms | p99 ms | p99.9 ms | errors |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let reasons: Vec<String> = r.error_reasons.iter().map(|(why, n)| format!("{n}× {why}")).collect();
        let errors =
            if reasons.is_empty() { r.errors.to_string() } else { format!("{} ({})", r.errors, reasons.join(", ")) };
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            r.name, r.load, r.calls_per_s, r.requests_per_s, r.p50_ms, r.p90_ms, r.p99_ms, r.p999_ms, errors
        );
    }
}

fn checkout_section(out: &mut String, checkout: &CheckoutSaturation) {
    let c = &checkout.ceiling;
    let best = match (checkout.best_per_s, checkout.ratio()) {
        (Some(best), Some(ratio)) => format!("**{best:.0} checkouts/s**, {ratio:.2} of the ceiling"),
        (Some(best), None) => format!("**{best:.0} checkouts/s**"),
        _ => format!("no step kept p99 < {:.0} ms without errors", CheckoutSaturation::P99_MS),
    };
    let _ = writeln!(
        out,
        "\n## Checkout at saturation\n\nAdd an item, then check out (a call is both requests), at more connections each step. \
         Best with p99 < {:.0} ms and no errors: {best}. Its ceiling, what its stores alone do in this run: \
         1 / (1/{:.0} reservations/s (pgbench: a reservation and its commit in product's schema) + 1/{:.0} charges' rows/s \
         (mariadb-slap) + {:.1} Redis commands a checkout / {:.0} SET/s) = **{:.0} checkouts/s**.\n",
        CheckoutSaturation::P99_MS,
        c.reservations_per_s,
        c.charge_rows_per_s,
        c.redis_commands_per_checkout,
        c.redis_per_s,
        c.checkouts_per_s
    );
    scenario_rows(out, &checkout.steps);
}

impl Report {
    /// The run's name: its start, or the date of a report from before runs were named.
    pub fn run_id(&self) -> &str {
        if self.run.is_empty() {
            &self.date
        } else {
            &self.run
        }
    }

    /// The markdown report; `plots` are the PNG file names beside it, `runs` the reports of the
    /// history table (this one included).
    pub fn markdown(&self, plots: &[(String, &str)], runs: &[Report]) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(out, "# Benchmark report — {}\n", self.date);
        let _ = writeln!(
            out,
            "`make bench` on {} cores, {:.0} GiB, Linux {}: the four services (release builds), PostgreSQL, \
             MariaDB, Redis, the tansu broker and the load generator all share the machine. Each scenario: \
             {:.0} s warm-up, then {:.0} s measured. Latency is from the call's due time (rate mode corrects \
             for coordinated omission); throughput counts successful calls.\n",
            m.cores, m.memory_gib, m.kernel, self.warm_up_s, self.duration_s
        );
        out.push_str("## Headline: each endpoint against its ceiling\n\n| endpoint | rate/s | ceiling | ceiling/s | ratio | target |\n|---|---:|---|---:|---:|---|\n");
        for r in &self.headline {
            let target = r.target.map(|t| format!("≥ {t:.2} {}", r.verdict())).unwrap_or_default();
            let _ = writeln!(
                out,
                "| {} | {:.0} | {} | {:.0} | {:.2} | {} |",
                r.what, r.rate, r.ceiling, r.ceiling_rate, r.ratio, target
            );
        }
        let journey = match self.journey.sustained_requests_per_s {
            Some(rate) => format!(
                "**{rate:.0} shopper requests/s** sustained with p99 < 100 ms and no errors (target ≥ 2,500: {})",
                if rate >= 2500.0 { "met" } else { "**not met**" }
            ),
            None => {
                "no offered rate was sustained with p99 < 100 ms and no errors (target ≥ 2,500: **not met**)".to_owned()
            }
        };
        let _ = writeln!(out, "\nMixed journey: {journey}.\n");
        let idle_max = self.resources.iter().map(|r| r.idle_rss_mib).fold(0.0, f64::max);
        let _ = writeln!(
            out,
            "Idle memory: largest service {idle_max:.1} MiB resident (target < 50 MiB: {}).\n",
            if idle_max < 50.0 { "met" } else { "**not met**" }
        );
        let idle_cpu: Option<f64> = self.resources.iter().map(|r| r.idle_cpu_percent).sum();
        if let Some(idle_cpu) = idle_cpu {
            let _ =
                writeln!(out, "Idle CPU: the four services together {idle_cpu:.2} % of a core at rest (no target).\n");
        }

        out.push_str("## Targets\n\n");
        out.push_str(&crate::goals::targets_table(self));
        let _ = writeln!(
            out,
            "\n## History: the last {} runs\n\nEach goal's figure in each run (✓ met, ✗ not met), oldest first.\n",
            crate::goals::HISTORY_RUNS
        );
        out.push_str(&crate::goals::history_table(runs));
        out.push('\n');

        let c = &self.ceilings;
        out.push_str("## Ceilings measured in this run\n\n");
        let _ = writeln!(
            out,
            "- `pgbench -S` at {} clients: {:.0} transactions/s",
            c.pgbench_clients, c.pgbench_select_tps
        );
        let _ = writeln!(
            out,
            "- `redis-benchmark` at {} clients: GET {:.0}/s, SET {:.0}/s",
            c.redis_clients, c.redis_get_per_s, c.redis_set_per_s
        );
        let _ =
            writeln!(out, "- raw argon2id (m=19456, t=2, p=1) on every core, the higher of two measurements (the run's start and end): {:.1} hashes/s", c.argon2_hashes_per_s);
        if c.mariadb_clients > 0 {
            let _ = writeln!(
                out,
                "- `mariadb-slap` at {} clients, a charge's rows (idempotency key, payment, outbox event) per transaction: {:.0} transactions/s",
                c.mariadb_clients, c.mariadb_charge_rows_per_s
            );
        }
        out.push_str("- each service's `/healthz` (the framework's own ceiling):\n\n");
        scenario_rows(&mut out, &c.healthz);

        out.push_str("\n## Scenarios\n\n");
        scenario_rows(&mut out, &self.scenarios);
        if let Some(checkout) = &self.checkout {
            checkout_section(&mut out, checkout);
        }
        out.push_str("\n## Mixed journey, stepped up\n\nWeights as Online Boutique's load generator: browse product 10, view cart 3, add to cart 2, home (catalogue list) 1, checkout 1 (add an item, then check out: two requests). One shopper per worker.\n\n");
        scenario_rows(&mut out, &self.journey.steps);

        out.push_str("\n## Resources\n\n| service | idle RSS MiB | idle CPU, % of a core | RSS under the journey MiB | CPU s per 1,000 journey requests |\n|---|---:|---:|---:|---:|\n");
        for r in &self.resources {
            let _ = writeln!(
                out,
                "| {} | {:.1} | {} | {:.1} | {:.3} |",
                r.service,
                r.idle_rss_mib,
                r.idle_cpu_percent.map_or_else(|| "not measured".to_owned(), |cpu| format!("{cpu:.2}")),
                r.journey_rss_mib,
                r.cpu_s_per_1000_requests
            );
        }
        out.push_str("\n## Plots\n\n");
        for (file, title) in plots {
            let _ = writeln!(out, "![{title}]({file})\n");
        }
        let _ = writeln!(
            out,
            "The measured run took {:.0} s; `make bench` adds the platform's restart and, after a change, its release build.",
            self.wall_time_s
        );
        out
    }
}
