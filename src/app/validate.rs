//! `gwsim validate SCENARIO...`: every problem of every file at once, exit 2 if any.

use anyhow::Result;

use super::Outcome;
use crate::cli::ValidateArgs;
use crate::scenario::Overrides;

pub(super) fn validate(args: ValidateArgs) -> Result<Outcome> {
    use std::io::Write as _;
    let mut problems = 0;
    let mut stdout = std::io::stdout().lock();
    for path in &args.scenarios {
        match crate::scenario::load(path, &Overrides::default()) {
            Ok(s) => {
                let agents: u32 = s.agents.iter().map(|p| p.count).sum();
                writeln!(
                    stdout,
                    "{}: ok ({agents} agents in {} populations, {} flows, {} thresholds)",
                    path.display(),
                    s.agents.len(),
                    s.flows.len(),
                    s.thresholds.len()
                )?;
            }
            Err(diagnostics) => {
                problems += diagnostics.0.len();
                eprint!("{diagnostics}");
            }
        }
    }
    if problems > 0 {
        eprintln!("{problems} problem(s) found");
        Ok(Outcome::Invalid)
    } else {
        Ok(Outcome::Ok)
    }
}
