//! The generator's own cost, as a run reports it: the CPU the gwsim process used over the run
//! (the embedded server's threads apart when it ran in the process), the scheduling lag of a
//! probe task, and whether the generator rather than the target limited the run (SIPp's
//! watchdog idea: a load generator that is itself saturated measures itself, not the target).

use serde::{Deserialize, Serialize};

/// The share of the machine's cores above which the generator counts as saturated (the same
/// default as `[capacity] max_cpu`).
pub const MAX_CPU_SHARE: f64 = 0.9;
/// The probe's lag p99 above which the generator counts as behind its own schedule (the same
/// default as `[capacity] max_lag`): every timer, customers' arrivals included, fires that late.
pub const MAX_LAG_MS: f64 = 50.0;

/// What the generator used over the run (`summary.json` `generator`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorReport {
    /// CPU time (user + system) of the simulator over the run, in seconds: the whole process
    /// minus the embedded server's threads when it ran here.
    pub cpu_s: f64,
    /// `cpu_s` over the run's wall time: 1.0 is one core busy all along.
    pub cpu_cores: f64,
    /// The cores this process could use.
    pub cores: u32,
    /// How late a probe task woke on the simulator's runtime (asked every 10 ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_p99_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_max_ms: Option<f64>,
    /// The embedded server's CPU time over the run, in seconds (its own runtime's threads, read
    /// from `/proc/self/task/*/stat`); absent for a remote target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu_s: Option<f64>,
    /// `server_cpu_s` over the run's wall time, in cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu_cores: Option<f64>,
    /// Why the generator, not the target, limited the run; empty when it did not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limited_by: Vec<String>,
}

impl GeneratorReport {
    /// The report of `cpu_s` seconds over `wall_s`, on `cores` cores, with the probe's lag and
    /// the embedded server's share; judges whether the generator limited the run. The server's
    /// CPU counts towards saturation too: it competes for the same cores.
    pub fn judge(
        cpu_s: f64,
        wall_s: f64,
        cores: u32,
        lag: Option<(f64, f64)>,
        server_cpu_s: Option<f64>,
    ) -> GeneratorReport {
        let per_wall = |s: f64| if wall_s > 0.0 { s / wall_s } else { 0.0 };
        let round = |v: f64| (v * 100.0).round() / 100.0;
        let cpu_cores = per_wall(cpu_s);
        let busy = per_wall(cpu_s + server_cpu_s.unwrap_or(0.0));
        let mut limited_by = Vec::new();
        if cores > 0 && busy > MAX_CPU_SHARE * f64::from(cores) {
            limited_by.push(match server_cpu_s {
                Some(_) => format!(
                    "the process used {busy:.2} of {cores} cores (simulator {cpu_cores:.2}, \
                     embedded server {:.2})",
                    busy - cpu_cores
                ),
                None => format!("the simulator used {cpu_cores:.2} of {cores} cores"),
            });
        }
        if let Some((p99, _)) = lag
            && p99 > MAX_LAG_MS
        {
            limited_by.push(format!(
                "its runtime's scheduling lag p99 was {p99:.0} ms (over {MAX_LAG_MS:.0} ms)"
            ));
        }
        GeneratorReport {
            cpu_s: round(cpu_s),
            cpu_cores: round(cpu_cores),
            cores,
            lag_p99_ms: lag.map(|l| round(l.0)),
            lag_max_ms: lag.map(|l| round(l.1)),
            server_cpu_s: server_cpu_s.map(round),
            server_cpu_cores: server_cpu_s.map(|s| round(per_wall(s))),
            limited_by,
        }
    }

    /// The loud warning a limited run carries (in `warnings` and at the top and bottom of the
    /// terminal report).
    pub fn warning(&self) -> Option<String> {
        (!self.limited_by.is_empty()).then(|| {
            format!(
                "GENERATOR-LIMITED: {}; the figures measure gwsim as much as the target (use \
                 fewer agents or customers per process, `--threads N` to give this one more \
                 cores, or shards on more machines)",
                self.limited_by.join("; ")
            )
        })
    }

    /// One terminal line: `generator: cpu 12.3 s (0.62 of 2 cores), lag p99 1 ms max 9 ms;
    /// embedded server cpu 4.0 s`.
    pub fn line(&self) -> String {
        let mut line = format!(
            "generator: cpu {:.1} s ({:.2} of {} cores)",
            self.cpu_s, self.cpu_cores, self.cores
        );
        if let (Some(p99), Some(max)) = (self.lag_p99_ms, self.lag_max_ms) {
            line.push_str(&format!(", scheduling lag p99 {p99:.0} ms max {max:.0} ms"));
        }
        if let Some(s) = self.server_cpu_s {
            line.push_str(&format!("; embedded server cpu {s:.1} s"));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saturated_generator_is_named_and_an_idle_one_is_not() {
        let idle = GeneratorReport::judge(2.0, 20.0, 2, Some((0.4, 3.0)), None);
        assert_eq!(idle.cpu_cores, 0.1);
        assert!(idle.limited_by.is_empty() && idle.warning().is_none());
        assert_eq!(
            idle.line(),
            "generator: cpu 2.0 s (0.10 of 2 cores), scheduling lag p99 0 ms max 3 ms"
        );
        let busy = GeneratorReport::judge(38.0, 20.0, 2, Some((80.0, 300.0)), None);
        assert_eq!(busy.limited_by.len(), 2, "{busy:?}");
        assert!(busy.warning().is_some_and(|w| w.starts_with("GENERATOR-LIMITED")));
        // The embedded server's CPU competes for the same cores.
        let shared = GeneratorReport::judge(20.0, 20.0, 2, None, Some(17.0));
        assert!(shared.limited_by[0].contains("embedded server 0.85"), "{shared:?}");
        assert!(shared.line().ends_with("; embedded server cpu 17.0 s"));
        assert!(GeneratorReport::judge(1.0, 0.0, 0, None, None).limited_by.is_empty());
    }
}
