//! `[target]`: where load goes (embedded or remote), over which transport, with which media.

use toml::Spanned;

use super::cx::*;
use super::*;
use crate::gws::model::Media;
use crate::scenario::raw;
use crate::vocab::Transport;

pub(super) struct TargetDraft {
    pub(super) target: Target,
    pub(super) span: Span,
    pub(super) customer_api_span: Option<Span>,
    /// `--target URL` when the target came from the command line: rules about the target then
    /// name the flag instead of pointing into the file.
    pub(super) flag: Option<At>,
}

impl Cx<'_> {
    /// `[target]` (or its absence, `t` empty) with `--target`, `--transport` and
    /// `--agents-only` folded in.
    pub(super) fn target(&mut self, t: raw::Target, span: Span) -> TargetDraft {
        let o = self.o;
        let file_remote = match &t.kind {
            Some(k) => self
                .choice(k, "target kind", &["embedded", "remote"], |s| match s {
                    "embedded" => Some(false),
                    "remote" => Some(true),
                    _ => None,
                })
                .unwrap_or(false),
            None => false,
        };
        let media = t
            .media
            .as_ref()
            .and_then(|m| {
                self.choice(m, "media", &["chat", "facebook"], |s| match s {
                    "chat" => Some(Media::Chat),
                    "facebook" => Some(Media::Facebook),
                    _ => None,
                })
            })
            .unwrap_or(Media::Chat);
        let flag = o.target.as_ref();
        let remote = file_remote || flag.is_some();
        // The file's transport is still read, so a misspelling in it is reported.
        let file_transport = t
            .transport
            .as_ref()
            .and_then(|tr| self.choice(tr, "transport", Transport::NAMES, Transport::parse));
        // GWS 8.5.2 GA offers only long-polling; the embedded server offers both. A transport
        // the file chose for its own target does not carry over to the one `--target` names.
        let transport = match (o.transport, flag, file_transport) {
            (Some(tr), _, _) => tr,
            (None, Some(_), _) => Transport::LongPolling,
            (None, None, Some(tr)) => tr,
            (None, None, None) if remote => Transport::LongPolling,
            (None, None, None) => Transport::Websocket,
        };

        if !file_remote {
            let remote_only: [(&str, Option<Span>); 6] = [
                ("base_url", t.base_url.as_ref().map(Spanned::span)),
                ("allow_remote", t.allow_remote.as_ref().map(Spanned::span)),
                ("tls", t.tls.as_ref().map(|_| span.clone())),
                ("csrf", t.csrf.as_ref().map(Spanned::span)),
                ("contact_center_id", t.contact_center_id.as_ref().map(Spanned::span)),
                ("customer_api", t.customer_api.as_ref().map(Spanned::span)),
            ];
            for (key, s) in remote_only {
                if let Some(s) = s {
                    self.s.error_help(
                        s,
                        format!("`{key}` applies only to remote targets, and this one is embedded"),
                        "remove it, or set `kind = \"remote\"` to run against another server",
                    );
                }
            }
        }
        let file_cc = t.contact_center_id.as_ref().filter(|_| file_remote).and_then(|c| {
            if c.get_ref().trim().is_empty() {
                self.s.error(c.span(), "`contact_center_id` is empty");
                None
            } else {
                Some(c.get_ref().clone())
            }
        });
        let flag_at = flag.map(|f| At::flag("--target", &f.base_url));
        let kind = match (flag, &flag_at) {
            (Some(f), Some(at)) => {
                let base_url = self.base_url(&f.base_url, at, f.allow_remote);
                let contact_center_id = match &f.contact_center_id {
                    Some(c) if c.trim().is_empty() => {
                        self.error_at(
                            &At::flag("--contact-center-id", "\"\""),
                            "the contact center id is empty",
                            None,
                        );
                        None
                    }
                    Some(c) => Some(c.clone()),
                    None => file_cc,
                };
                TargetKind::Remote(RemoteTarget {
                    base_url: base_url.unwrap_or_default(),
                    allow_remote: f.allow_remote,
                    accept_invalid_certs: f.accept_invalid_certs,
                    csrf: t.csrf.as_ref().filter(|_| file_remote).is_none_or(|c| *c.get_ref()),
                    contact_center_id,
                    customer_api: !o.agents_only
                        && t.customer_api
                            .as_ref()
                            .filter(|_| file_remote)
                            .is_none_or(|c| *c.get_ref()),
                })
            }
            _ if file_remote => {
                let allow_remote = t.allow_remote.as_ref().is_some_and(|a| *a.get_ref());
                let base_url = match &t.base_url {
                    Some(u) => self.base_url(u.get_ref(), &At::File(u.span()), allow_remote),
                    None => {
                        self.missing(
                            span.clone(),
                            "base_url",
                            "a remote target needs `base_url = \"https://gws.example:8443\"`",
                        );
                        None
                    }
                };
                TargetKind::Remote(RemoteTarget {
                    base_url: base_url.unwrap_or_default(),
                    allow_remote,
                    accept_invalid_certs: t
                        .tls
                        .as_ref()
                        .and_then(|tls| tls.accept_invalid_certs.as_ref())
                        .is_some_and(|a| *a.get_ref()),
                    csrf: t.csrf.as_ref().is_none_or(|c| *c.get_ref()),
                    contact_center_id: file_cc,
                    customer_api: !o.agents_only
                        && t.customer_api.as_ref().is_none_or(|c| *c.get_ref()),
                })
            }
            _ => {
                if o.agents_only {
                    self.error_at(
                        &At::Flag("--agents-only".to_owned()),
                        "the embedded server has no customers but the simulated ones, so its agents would never be offered a chat",
                        Some("use --agents-only with a remote target (`--target URL`, or `kind = \"remote\"` in [target]) that real traffic feeds".to_owned()),
                    );
                }
                TargetKind::Embedded
            }
        };
        TargetDraft {
            target: Target { kind, transport, media },
            span,
            customer_api_span: t.customer_api.as_ref().map(Spanned::span),
            flag: flag_at,
        }
    }

    /// Checks a base URL from the file or from `--target`; returns it without a trailing slash.
    pub(super) fn base_url(&mut self, u: &str, at: &At, allow_remote: bool) -> Option<String> {
        // Only the file has a key to name; a flag is already named by `at`.
        let what = if at.is_flag() { "the URL" } else { "`base_url`" };
        let url = match url::Url::parse(u) {
            Ok(url) => url,
            Err(e) => {
                self.error_at(
                    at,
                    format!("`{u}` is not a URL: {e}"),
                    Some("write the server's address with its scheme, e.g. \"https://gws.example:8443\"".to_owned()),
                );
                return None;
            }
        };
        if !matches!(url.scheme(), "http" | "https") {
            self.error_at(
                at,
                format!("{what} must start with http:// or https://, not {}://", url.scheme()),
                None,
            );
            return None;
        }
        let Some(host) = url.host_str() else {
            self.error_at(at, format!("{what} has no host"), None);
            return None;
        };
        if url.query().is_some() || url.fragment().is_some() {
            self.error_at(at, format!("{what} must not have a query or fragment"), None);
            return None;
        }
        if !crate::scenario::is_loopback_host(host) && !allow_remote {
            // A load test aimed at the wrong server is an outage; make the user say it on purpose.
            let help = if at.is_flag() {
                "add --allow-remote if you mean to load that server"
            } else {
                "add `allow_remote = true` to [target] if you mean to load that server"
            };
            self.error_at(
                at,
                format!("`{u}` is not on this machine, and load-testing another machine needs confirmation"),
                Some(help.to_owned()),
            );
        }
        Some(u.trim_end_matches('/').to_owned())
    }
}
