//! `[run]`: duration, warmup, drain and seed.

use std::time::Duration;

use toml::Spanned;

use super::cx::*;
use super::*;
use crate::scenario::raw;
use crate::scenario::units::format_duration;

impl Cx<'_> {
    pub(super) fn run(&mut self, r: raw::Run, span: Span) -> Option<Run> {
        let duration = match &r.duration {
            Some(d) => self.duration(d, "`duration`").and_then(|d| {
                if d.is_zero() {
                    self.s.error(
                        r.duration.as_ref().map_or(span.clone(), Spanned::span),
                        "`duration` is zero, so nothing would run",
                    );
                    None
                } else {
                    Some(d)
                }
            }),
            None => {
                self.missing(
                    span.clone(),
                    "duration",
                    "add `duration = \"60s\"` to [run]: how long load is applied",
                );
                None
            }
        };
        let warmup = match &r.warmup {
            Some(w) => self.duration(w, "`warmup`"),
            None => Some(Duration::ZERO),
        };
        let drain = match &r.drain {
            Some(d) => self.duration(d, "`drain`"),
            None => Some(DEFAULT_DRAIN),
        };
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
        let (duration, warmup, drain, seed) = (duration?, warmup?, drain?, seed?);
        if warmup >= duration {
            self.s.error_help(
                r.warmup.as_ref().map_or(span, Spanned::span),
                format!(
                    "`warmup` ({}) is not shorter than `duration` ({}), so nothing would be measured",
                    format_duration(warmup),
                    format_duration(duration)
                ),
                "the warmup is the first part of the duration; make it shorter",
            );
            return None;
        }
        Some(Run { duration, warmup, drain, seed })
    }
}
