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
}

impl Default for TargetDraft {
    fn default() -> Self {
        TargetDraft {
            target: Target {
                kind: TargetKind::Embedded,
                transport: Transport::Websocket,
                media: Media::Chat,
            },
            span: 0..0,
            customer_api_span: None,
        }
    }
}

impl Cx<'_> {
    pub(super) fn target(&mut self, t: raw::Target, span: Span) -> TargetDraft {
        let kind_remote = match &t.kind {
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
        // GWS 8.5.2 GA offers only long-polling; the embedded server offers both.
        let default_transport =
            if kind_remote { Transport::LongPolling } else { Transport::Websocket };
        let transport = t
            .transport
            .as_ref()
            .and_then(|tr| self.choice(tr, "transport", Transport::NAMES, Transport::parse))
            .unwrap_or(default_transport);

        let kind = if kind_remote {
            let base_url = match &t.base_url {
                Some(u) => self.base_url(u, t.allow_remote.as_ref().is_some_and(|a| *a.get_ref())),
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
                allow_remote: t.allow_remote.as_ref().is_some_and(|a| *a.get_ref()),
                accept_invalid_certs: t
                    .tls
                    .as_ref()
                    .and_then(|tls| tls.accept_invalid_certs.as_ref())
                    .is_some_and(|a| *a.get_ref()),
                csrf: t.csrf.as_ref().is_none_or(|c| *c.get_ref()),
                contact_center_id: t.contact_center_id.as_ref().and_then(|c| {
                    if c.get_ref().trim().is_empty() {
                        self.s.error(c.span(), "`contact_center_id` is empty");
                        None
                    } else {
                        Some(c.get_ref().clone())
                    }
                }),
                customer_api: t.customer_api.as_ref().is_none_or(|c| *c.get_ref()),
            })
        } else {
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
            TargetKind::Embedded
        };
        TargetDraft {
            target: Target { kind, transport, media },
            span,
            customer_api_span: t.customer_api.as_ref().map(Spanned::span),
        }
    }

    pub(super) fn base_url(&mut self, u: &Spanned<String>, allow_remote: bool) -> Option<String> {
        let url = match reqwest::Url::parse(u.get_ref()) {
            Ok(url) => url,
            Err(e) => {
                self.s.error_help(
                    u.span(),
                    format!("`{}` is not a URL: {e}", u.get_ref()),
                    "write the server's address with its scheme, e.g. \"https://gws.example:8443\"",
                );
                return None;
            }
        };
        if !matches!(url.scheme(), "http" | "https") {
            self.s.error(
                u.span(),
                format!("`base_url` must start with http:// or https://, not {}://", url.scheme()),
            );
            return None;
        }
        let Some(host) = url.host_str() else {
            self.s.error(u.span(), "`base_url` has no host");
            return None;
        };
        if url.query().is_some() || url.fragment().is_some() {
            self.s.error(u.span(), "`base_url` must not have a query or fragment");
            return None;
        }
        if !crate::scenario::is_loopback_host(host) && !allow_remote {
            // A load test aimed at the wrong server is an outage; make the user say it on purpose.
            self.s.error_help(
                u.span(),
                format!("`{}` is not on this machine, and load-testing another machine needs confirmation", u.get_ref()),
                "add `allow_remote = true` to [target] if you mean to load that server",
            );
        }
        Some(u.get_ref().trim_end_matches('/').to_owned())
    }
}
