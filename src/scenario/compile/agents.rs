//! `[[agents]]`: one closed population of virtual agents per entry.

use std::path::PathBuf;

use toml::Spanned;

use super::cx::*;
use super::*;
use crate::gws::model::Media;
use crate::scenario::raw::{self, StrOrTable};

pub(super) struct PopDraft {
    pub(super) pop: AgentPopulation,
    pub(super) span: Span,
    pub(super) name_span: Span,
    /// A password source was given, in the file or on the command line (the embedded target's
    /// generated passwords need none).
    pub(super) has_password: bool,
    pub(super) readiness_span: Span,
}

/// A name a shell accepts for an environment variable.
fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Cx<'_> {
    /// `--password-env` / `--password-file`, checked once for every population by the rules a
    /// population's `password` obeys. `None`: none given; `Some(None)`: given but unusable (and
    /// reported), so populations are not also reported for lacking one.
    pub(super) fn password_override(&mut self) -> Option<Option<PasswordSource>> {
        let source = self.o.password.as_ref()?;
        Some(match source {
            PasswordSource::Env(name) if !is_env_name(name) => {
                self.error_at(
                    &At::flag("--password-env", name),
                    format!("`{name}` is not an environment variable name"),
                    Some("use letters, digits and `_`, e.g. GWS_PASSWORD".to_owned()),
                );
                None
            }
            PasswordSource::File(path) if path.as_os_str().is_empty() => {
                self.error_at(
                    &At::Flag("--password-file".to_owned()),
                    "the password file path is empty",
                    None,
                );
                None
            }
            other => Some(other.clone()),
        })
    }

    pub(super) fn population(
        &mut self,
        a: raw::Agents,
        span: Span,
        media: Media,
        password_override: Option<&Option<PasswordSource>>,
    ) -> Option<PopDraft> {
        let name = match &a.name {
            Some(n) => self.check_name(n, "population name").then(|| n.get_ref().clone()),
            None => {
                self.missing(
                    span.clone(),
                    "name",
                    "give the population a `name`; flows target it as agents:<name>",
                );
                None
            }
        };
        let count = match &a.count {
            Some(c) => self.count(c, "`count`", 1, MAX_COUNT),
            None => {
                self.missing(
                    span.clone(),
                    "count",
                    "say how many agents this population has, e.g. `count = 10`",
                );
                None
            }
        };
        let first = match &a.first {
            Some(f) => self.count(f, "`first`", 0, i64::from(u32::MAX) - MAX_COUNT),
            None => Some(1),
        };
        let username = match &a.username {
            Some(u) => {
                let n = u.get_ref().matches(NamePattern::PLACEHOLDER).count();
                let stripped = u.get_ref().replace(NamePattern::PLACEHOLDER, "");
                if u.get_ref().trim().is_empty() {
                    self.s.error(u.span(), "`username` is empty");
                    None
                } else if stripped.contains('{') || stripped.contains('}') {
                    self.s.error_help(
                        u.span(),
                        format!("`{}` has a placeholder other than {{n}}", u.get_ref()),
                        "{n} (the agent's number) is the only placeholder",
                    );
                    None
                } else if n > 1 {
                    self.s.error(u.span(), "`username` has {n} more than once");
                    None
                } else if n == 0 && a.count.as_ref().is_some_and(|c| *c.get_ref() > 1) {
                    self.s.error_help(
                        u.span(),
                        format!("`{}` has no {{n}}, so all agents of the population would share one login", u.get_ref()),
                        format!("write e.g. \"{}-{{n}}\"; {{n}} becomes 1, 2, 3, ...", u.get_ref()),
                    );
                    None
                } else {
                    Some(NamePattern(u.get_ref().clone()))
                }
            }
            None => name.as_ref().map(|n| NamePattern(format!("{n}-{{n}}"))),
        };
        let password = match &a.password {
            None => Some(None),
            Some(p) => match p.get_ref() {
                StrOrTable::Str(_) => {
                    self.s.error_help(
                        p.span(),
                        "a password must not be written in the scenario file",
                        "scenario files are shared and copied into results; write `password = { env = \"GWS_PASSWORD\" }` or `password = { file = \"secrets/agents.txt\" }`",
                    );
                    None
                }
                StrOrTable::Table(t) => match (&t.env, &t.file) {
                    (Some(e), None) => {
                        if is_env_name(e.get_ref()) {
                            Some(Some(PasswordSource::Env(e.get_ref().clone())))
                        } else {
                            self.s.error_help(
                                e.span(),
                                format!("`{}` is not an environment variable name", e.get_ref()),
                                "use letters, digits and `_`, e.g. GWS_PASSWORD",
                            );
                            None
                        }
                    }
                    (None, Some(f)) if !f.get_ref().trim().is_empty() => {
                        let path = PathBuf::from(f.get_ref());
                        let path = match self.base_dir {
                            Some(dir) if path.is_relative() => dir.join(path),
                            _ => path,
                        };
                        Some(Some(PasswordSource::File(path)))
                    }
                    (None, Some(f)) => {
                        self.s.error(f.span(), "the password `file` path is empty");
                        None
                    }
                    (Some(e), Some(_)) => {
                        self.s.error(
                            e.span(),
                            "a password comes from `env` or from `file`, not both",
                        );
                        None
                    }
                    (None, None) => {
                        self.s.error_help(
                            p.span(),
                            "the password table names no source",
                            "write `{ env = \"NAME\" }` or `{ file = \"path\" }`",
                        );
                        None
                    }
                },
            },
        };
        // The command line's source replaces the file's; the file's is still checked above, since
        // a password written into the file is a leak whatever the flags say.
        let has_password = match password_override {
            Some(Some(PasswordSource::Generated)) => false,
            Some(_) => true,
            None => a.password.is_some(),
        };
        let password = match password_override {
            Some(Some(source)) => password.map(|_| Some(source.clone())),
            _ => password,
        };
        let name_ref = |f: &Option<Spanned<String>>, cx: &mut Self| -> Option<Option<String>> {
            match f {
                Some(f) => cx.check_name(f, "flow name").then(|| Some(f.get_ref().clone())),
                None => Some(None),
            }
        };
        let flow = name_ref(&a.flow, self);
        let consult_flow = name_ref(&a.consult_flow, self);
        for (key, valid, f) in
            [("flow", &flow, &a.flow), ("consult_flow", &consult_flow, &a.consult_flow)]
        {
            if let (Some(Some(name)), Some(f)) = (valid, f) {
                self.flow_refs.push(FlowRef { key, flow: name.clone(), span: f.span() });
            }
        }
        if a.flow.is_none() && a.consult_flow.is_none() {
            self.missing(span.clone(), "flow", "say what these agents do with an interaction: `flow = \"<name of a [flows.<name>] section>\"`");
        }
        let readiness = match &a.readiness {
            None => Some(Readiness::Ready),
            Some(r) => {
                match r.get_ref() {
                    StrOrTable::Str(s) => {
                        let s = Spanned::new(r.span(), s.clone());
                        self.choice(&s, "readiness", &["ready", "not-ready"], |s| match s {
                            "ready" => Some(Readiness::Ready),
                            "not-ready" => Some(Readiness::NotReady),
                            _ => None,
                        })
                    }
                    StrOrTable::Table(t) => {
                        match (&t.ready, &t.not_ready) {
                            (Some(rd), Some(nr)) => {
                                let rd = self.distribution(rd, "`ready`");
                                let nr = self.distribution(nr, "`not_ready`");
                                Some(Readiness::Cycle { ready: rd?, not_ready: nr? })
                            }
                            _ => {
                                self.s.error_help(r.span(), "a readiness cycle needs both `ready` and `not_ready` periods", "e.g. readiness = { ready = \"exp(5m)\", not_ready = \"30s..2m\" }");
                                None
                            }
                        }
                    }
                }
            }
        };
        let channels = match &a.channels {
            None => Some(vec![media]),
            Some(list) if list.is_empty() => {
                self.s.error(
                    span.clone(),
                    "`channels` is empty; agents need at least one media channel",
                );
                None
            }
            Some(list) => {
                let mut out = Vec::new();
                for c in list {
                    let m = self.choice(c, "channel", &["chat", "facebook"], |s| match s {
                        "chat" => Some(Media::Chat),
                        "facebook" => Some(Media::Facebook),
                        _ => None,
                    })?;
                    if out.contains(&m) {
                        self.s
                            .error(c.span(), format!("channel `{}` is listed twice", c.get_ref()));
                        return None;
                    }
                    out.push(m);
                }
                // Facebook sessions are routed to chat-Ready agents too (protocol.md §15.20).
                let reachable = out.contains(&media)
                    || (media == Media::Facebook && out.contains(&Media::Chat));
                if !reachable {
                    self.s.error_help(
                        list[0].span(),
                        format!("these agents log in without the `{}` channel, so they would never receive the scenario's interactions", media.channel_name()),
                        format!("add \"{}\" to `channels`", media.channel_name()),
                    );
                    return None;
                }
                Some(out)
            }
        };
        let readiness_span = a.readiness.as_ref().map_or(span.clone(), Spanned::span);
        let name_span = a.name.as_ref().map_or(span.clone(), Spanned::span);
        Some(PopDraft {
            pop: AgentPopulation {
                name: name?,
                count: count?,
                username: username?,
                first: first?,
                password: password?.unwrap_or(PasswordSource::Generated),
                flow: flow?,
                consult_flow: consult_flow?,
                readiness: readiness?,
                channels: channels?,
            },
            has_password,
            readiness_span,
            name_span,
            span,
        })
    }
}
