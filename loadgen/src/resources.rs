//! Each service's resident memory and CPU time, read from /proc by the PIDs `make run` keeps.
use anyhow::{Context, Result};
use serde::Serialize;
use std::{path::Path, process::Command};

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Usage {
    pub rss_kib: u64,
    /// User + system CPU seconds since the process started.
    pub cpu_s: f64,
}

impl Usage {
    pub fn rss_mib(&self) -> f64 {
        self.rss_kib as f64 / 1024.0
    }
}

/// Clock ticks per second, the unit of /proc/<pid>/stat's CPU times.
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

pub fn pid_of(pid_dir: &Path, service: &str) -> Result<u32> {
    let file = pid_dir.join(format!("{service}.pid"));
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("{}: is the platform running (`make run`)?", file.display()))?;
    text.trim().parse().with_context(|| format!("{} holds no PID", file.display()))
}

pub fn usage(pid: u32, ticks_per_s: f64) -> Result<Usage> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("process {pid} is gone"))?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS in /proc/<pid>/status")?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces, so split after its closing paren):
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the paren.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).context("malformed /proc/<pid>/stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks =
        |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).context("no CPU times in /proc/<pid>/stat");
    Ok(Usage { rss_kib, cpu_s: (ticks(11)? + ticks(12)?) / ticks_per_s })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_process() {
        // black_box: an optimised build would otherwise fold the loop into a constant and burn nothing.
        let burn: u64 =
            (0..std::hint::black_box(20_000_000u64)).fold(0, |a, b| a.wrapping_add(std::hint::black_box(b * b)));
        assert_ne!(burn, 1);
        let own = usage(std::process::id(), clock_ticks()).unwrap();
        assert!(own.rss_kib > 1024, "{own:?}");
        assert!(own.cpu_s > 0.0 && own.cpu_s < 3600.0, "{own:?}");
    }
}
