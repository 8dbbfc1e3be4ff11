//! `[run]`: duration, warmup, drain and seed, with their command-line overrides folded in.

use std::time::Duration;

use toml::Spanned;

use super::cx::*;
use super::*;
use crate::scenario::raw;
use crate::scenario::units::format_duration;

impl Cx<'_> {
    /// A duration from the file or, when given, from an override; the file's value is still read
    /// (and any mistake in it reported), since it stays wrong whatever the flag says.
    fn run_duration(
        &mut self,
        file: Option<&Spanned<String>>,
        key: &str,
        flag: Option<(Duration, &str)>,
    ) -> Option<Option<(Duration, At)>> {
        let from_file = match file {
            Some(v) => self.duration(v, &format!("`{key}`")).map(|d| Some((d, At::File(v.span())))),
            None => Some(None),
        };
        match flag {
            Some((d, name)) => Some(Some((d, At::flag(name, format_duration(d))))),
            None => from_file,
        }
    }

    pub(super) fn run(&mut self, r: raw::Run, span: Span) -> Option<Run> {
        let o = self.o;
        let duration = self.run_duration(
            r.duration.as_ref(),
            "duration",
            o.duration.map(|d| (d, "--duration")),
        );
        let duration = match duration {
            Some(Some((d, at))) if d.is_zero() => {
                self.error_at(&at, "`duration` is zero, so nothing would run", None);
                None
            }
            Some(Some(d)) => Some(d),
            Some(None) => {
                self.missing(
                    span.clone(),
                    "duration",
                    "add `duration = \"60s\"` to [run]: how long load is applied",
                );
                None
            }
            None => None,
        };
        let warmup = self
            .run_duration(r.warmup.as_ref(), "warmup", o.warmup.map(|d| (d, "warmup override")))
            .map(|w| w.unwrap_or((Duration::ZERO, At::File(span.clone()))));
        let drain = self
            .run_duration(r.drain.as_ref(), "drain", o.drain.map(|d| (d, "drain override")))
            .map(|d| d.map_or(DEFAULT_DRAIN, |(d, _)| d));
        let seed = match &r.seed {
            Some(s) => match u64::try_from(*s.get_ref()) {
                Ok(v) => Some(v),
                Err(_) => {
                    self.s.error(
                        s.span(),
                        format!("`seed` is {}, but it must be 0 or more", s.get_ref()),
                    );
                    None
                }
            },
            None => Some(DEFAULT_SEED),
        };
        let seed = o.seed.or(seed);
        let ((duration, duration_at), (warmup, warmup_at), drain, seed) =
            (duration?, warmup?, drain?, seed?);
        if warmup >= duration {
            // Point at whatever made it wrong: a flag shortening the run, else the warmup.
            let at = if duration_at.is_flag() { duration_at } else { warmup_at };
            self.error_at(
                &at,
                format!(
                    "`warmup` ({}) is not shorter than `duration` ({}), so nothing would be measured",
                    format_duration(warmup),
                    format_duration(duration)
                ),
                Some("the warmup is the first part of the duration; make it shorter".to_owned()),
            );
            return None;
        }
        Some(Run { duration, warmup, drain, seed })
    }
}
