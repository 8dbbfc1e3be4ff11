//! `[flows.<name>]`: the steps an agent runs for one interaction, and the per-operation
//! parameter table (`op_spec`).

use toml::Spanned;
use toml_edit::{Item, Value};

use super::cx::*;
use super::*;
use crate::gws::model::Media;
use crate::gws::states::Capability;
use crate::scenario::diagnostic::did_you_mean;
use crate::scenario::raw;
use crate::vocab::AwaitEvent;

impl Cx<'_> {
    pub(super) fn flow(
        &mut self,
        name: &str,
        item: &Item,
        span: Span,
        media: Media,
    ) -> Option<Flow> {
        let name_ok = self.check_name(&Spanned::new(span.clone(), name.to_owned()), "flow name");
        let header: raw::FlowHeader = self.de(item, &span)?;
        let steps_item = match item {
            Item::Table(t) => t.get("steps").cloned(),
            Item::Value(Value::InlineTable(t)) => t.get("steps").cloned().map(Item::Value),
            _ => None,
        };
        let Some(steps_item) = steps_item else {
            self.missing(span, "steps", "a flow is a list: `steps = [ { op = \"Accept\" }, ... ]`");
            return None;
        };
        let Some(elems) = elements(&steps_item, &span) else {
            self.s.error(steps_item.span().unwrap_or(span), "`steps` must be a list of steps");
            return None;
        };
        if elems.is_empty() {
            self.s.error_help(span, format!("flow `{name}` has no steps"), "add steps such as { op = \"Accept\" }, { think = \"1s\" }, { await = \"completed\", timeout = \"30s\" }");
            return None;
        }
        let mut steps = Vec::new();
        let mut ok = name_ok;
        // Sequence facts for the ordering rules below.
        let mut brought_agent_in = false;
        let mut finished: Option<&'static str> = None;
        let mut finished_reported = false;
        let mut answered = false;
        for (value, espan) in elems {
            let Some(raw) = self.de_value::<raw::Step>(value, &espan) else {
                ok = false;
                continue;
            };
            let lead = [&raw.op, &raw.think, &raw.await_]
                .iter()
                .find_map(|f| f.as_ref().map(Spanned::span))
                .unwrap_or(espan.clone());
            // Every flow starts from an invitation (StatusChange Invited), whose capabilities are
            // only Accept and Reject (protocol.md §15.7); think steps may come first.
            if !answered && raw.think.is_none() {
                answered = true;
                let op = raw.op.as_ref().and_then(|o| Capability::parse(o.get_ref()));
                let known_op = raw.op.is_some() && op.is_some();
                if !matches!(op, Some(Capability::Accept | Capability::Reject))
                    && (known_op || raw.await_.is_some())
                {
                    self.s.error_help(
                        lead.clone(),
                        "a flow begins with an invitation, which can only be accepted or rejected, so its first operation must be `Accept` or `Reject`",
                        "start the steps with { op = \"Accept\" }",
                    );
                    ok = false;
                }
            }
            // Reported once per flow: every later step is "after" it too.
            if let Some(what) = finished.take() {
                finished_reported = true;
                self.s.error_help(lead.clone(), format!("this step comes after {what}, when the interaction is already over for this agent"), "remove it, or move it before that step");
                ok = false;
            }
            match self.step(&raw, espan, media, brought_agent_in) {
                Some(step) => steps.push(step),
                None => ok = false,
            }
            // Sequence facts come from what the step says it is, even when the step itself is
            // broken, so that one mistake is not reported again by every step after it.
            let op = raw.op.as_ref().and_then(|o| Capability::parse(o.get_ref()));
            let event = raw.await_.as_ref().and_then(|e| AwaitEvent::parse(e.get_ref()));
            match (op, event) {
                (Some(Capability::Consult | Capability::Invite), _) => brought_agent_in = true,
                (Some(Capability::Complete), _) => finished = Some("`Complete`"),
                (Some(Capability::Reject), _) => finished = Some("`Reject`"),
                (Some(Capability::Transfer), _) => finished = Some("`Transfer`"),
                (_, Some(AwaitEvent::Completed)) => finished = Some("awaiting `completed`"),
                (_, Some(AwaitEvent::Removed)) => finished = Some("awaiting `removed`"),
                _ => {}
            }
            if finished_reported {
                finished = None;
            }
        }
        let description = header.description.map(Spanned::into_inner);
        ok.then(|| Flow { name: name.to_owned(), description, steps })
    }

    pub(super) fn step(
        &mut self,
        s: &raw::Step,
        span: Span,
        media: Media,
        brought_agent_in: bool,
    ) -> Option<Step> {
        let kinds: Vec<&str> = [
            s.op.as_ref().map(|_| "op"),
            s.think.as_ref().map(|_| "think"),
            s.await_.as_ref().map(|_| "await"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if kinds.len() != 1 {
            let msg = if kinds.is_empty() {
                "this step has none of `op`, `think` or `await`".to_owned()
            } else {
                format!(
                    "this step has {}; a step does exactly one thing",
                    kinds.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" and ")
                )
            };
            self.s.error_help(span, msg, "write { op = \"SendMessage\", text = \"Hi\" }, { think = \"1s..3s\" } or { await = \"consultant-joined\", timeout = \"10s\" }");
            return None;
        }
        let params = present_params(s);
        if let Some(t) = &s.think {
            self.no_params(&params, "a think step", &[]);
            let d = self.distribution(t, "`think`")?;
            return Some(Step::Think { think: d });
        }
        if let Some(ev) = &s.await_ {
            self.no_params(&params, "an await step", &["timeout"]);
            let event = self.choice(ev, "event to await", AwaitEvent::NAMES, AwaitEvent::parse);
            if event == Some(AwaitEvent::ConsultantJoined) && !brought_agent_in {
                self.s.error_help(
                    ev.span(),
                    "`consultant-joined` is awaited before any Consult or Invite step in this flow",
                    "put a { op = \"Consult\", target = ... } step before it",
                );
                return None;
            }
            let timeout = match &s.timeout {
                Some(t) => self.positive_duration(t, "`timeout`"),
                None => {
                    self.s.error_help(ev.span(), "an await step needs a `timeout`", "e.g. { await = \"consultant-joined\", timeout = \"10s\" }; not seeing the event in time fails the flow: an `await-timeout:<event>` error of the operation before it, not an ordering violation");
                    None
                }
            };
            return Some(Step::Await { event: event?, timeout: timeout? });
        }
        let op_v = s.op.as_ref()?;
        let Some(op) = Capability::parse(op_v.get_ref()) else {
            let names: Vec<&str> = Capability::ALL.iter().map(|c| c.as_str()).collect();
            let help = match did_you_mean(op_v.get_ref(), names.iter().copied()) {
                Some(n) => format!("did you mean `{n}`? operations: {}", names.join(", ")),
                None => format!("operations: {}", names.join(", ")),
            };
            self.s.error_help(
                op_v.span(),
                format!("`{}` is not an operation of the GWS chat or Facebook API", op_v.get_ref()),
                help,
            );
            return None;
        };
        let spec = op_spec(op);
        let mut ok = true;
        for (p, pspan) in &params {
            if *p == "timeout" {
                self.s.error_help(pspan.clone().unwrap_or(span.clone()), format!("`{op}` takes no `timeout`"), "operations are timed and measured by gwsim; use an await step to wait for an event");
                ok = false;
            } else if !spec.mandatory.contains(p) && !spec.optional.contains(p) {
                let allowed: Vec<&str> =
                    spec.mandatory.iter().chain(&spec.optional).copied().collect();
                let help = if allowed.is_empty() {
                    format!("`{op}` takes no parameters")
                } else {
                    format!("`{op}` takes: {}", allowed.join(", "))
                };
                self.s.error_help(
                    pspan.clone().unwrap_or(span.clone()),
                    format!("`{op}` has no parameter `{p}`"),
                    help,
                );
                ok = false;
            }
        }
        for m in &spec.mandatory {
            if !params.iter().any(|(p, _)| p == m) {
                self.s.error_help(op_v.span(), format!("`{op}` needs `{m}`"), param_help(op, m));
                ok = false;
            }
        }
        if op == Capability::AddComment && media != Media::Facebook {
            self.s.error_help(
                op_v.span(),
                "`AddComment` exists only for Facebook sessions, and this scenario's media is chat",
                "remove the step, or set `media = \"facebook\"` in [target]",
            );
            ok = false;
        }
        let mut step = OpStep::new(op);
        if let Some(t) = &s.target {
            if let Some(tr) = self.target_ref(t, op, media, brought_agent_in) {
                self.target_uses.push(TargetUse { op, target: tr.clone(), span: t.span() });
                step.target = Some(tr);
            } else {
                ok = false;
            }
        }
        let mut text_param =
            |v: &Option<Spanned<String>>, what: &str, cx: &mut Self| -> Option<String> {
                let v = v.as_ref()?;
                if v.get_ref().is_empty() {
                    cx.s.error(v.span(), format!("`{what}` is empty"));
                    ok = false;
                }
                Some(v.get_ref().clone())
            };
        step.text = text_param(&s.text, "text", self);
        step.url = text_param(&s.url, "url", self);
        step.notice = text_param(&s.notice, "notice", self);
        step.nickname = text_param(&s.nickname, "nickname", self);
        step.disposition = text_param(&s.disposition, "disposition", self);
        step.disposition_key = text_param(&s.disposition_key, "disposition_key", self);
        step.queue = text_param(&s.queue, "queue", self);
        step.comment = text_param(&s.comment, "comment", self);
        if let Some(ud) = &s.user_data {
            if ud.is_empty() {
                self.s.error(op_v.span(), "`user_data` is empty");
                ok = false;
            }
            step.user_data = ud.clone();
        }
        if let Some(keys) = &s.keys {
            if keys.is_empty() {
                self.s.error(op_v.span(), "`keys` is empty; list the user-data keys to delete");
                ok = false;
            }
            step.keys = keys.clone();
        }
        ok.then(|| Step::Op(Box::new(step)))
    }

    pub(super) fn no_params(
        &mut self,
        params: &[(&'static str, Option<Span>)],
        what: &str,
        except: &[&str],
    ) {
        for (p, span) in params {
            if !except.contains(p)
                && let Some(span) = span
            {
                self.s.error(span.clone(), format!("`{p}` does not belong in {what}"));
            }
        }
    }

    pub(super) fn target_ref(
        &mut self,
        t: &Spanned<String>,
        op: Capability,
        media: Media,
        brought_agent_in: bool,
    ) -> Option<TargetRef> {
        const HELP: &str =
            "targets are agents:<population>, queue:<name>, user:<username> or consultant";
        let raw = t.get_ref().trim();
        let parsed = if raw == "consultant" {
            Some(TargetRef::Consultant)
        } else if let Some((kind, rest)) = raw.split_once(':') {
            let rest = rest.trim();
            if rest.is_empty() {
                self.s.error_help(
                    t.span(),
                    format!("target `{raw}` names nobody after the colon"),
                    HELP,
                );
                return None;
            }
            match kind {
                "agents" => Some(TargetRef::Agents(rest.to_owned())),
                "queue" => Some(TargetRef::Queue(rest.to_owned())),
                "user" => Some(TargetRef::User(rest.to_owned())),
                _ => None,
            }
        } else {
            None
        };
        let Some(tr) = parsed else {
            self.s.error_help(t.span(), format!("`{raw}` is not a target"), HELP);
            return None;
        };
        let kind_ok = match (&tr, op) {
            (TargetRef::Consultant, Capability::Consult) => false,
            (TargetRef::Queue(_), Capability::RemoveParticipantFromConference) => false,
            // Chat invites name an agent; invite-through-queue exists only for Facebook (§5).
            (TargetRef::Queue(_), Capability::Invite) => media == Media::Facebook,
            _ => true,
        };
        if !kind_ok {
            let why = match tr {
                TargetRef::Consultant => format!(
                    "`{op}` cannot target `consultant`: the consultant is whoever an earlier Consult brought in"
                ),
                _ => format!("`{op}` cannot target a queue here"),
            };
            self.s.error_help(t.span(), why, "use agents:<population> or user:<username>");
            return None;
        }
        if tr == TargetRef::Consultant && !brought_agent_in {
            self.s.error_help(t.span(), "target `consultant` is used before any Consult or Invite step in this flow", "`consultant` means the agent an earlier Consult or Invite brought in; add that step first");
            return None;
        }
        Some(tr)
    }
}

/// The parameter keys a step carries, with their spans where known.
fn present_params(s: &raw::Step) -> Vec<(&'static str, Option<Span>)> {
    let mut out = Vec::new();
    let spanned = [
        ("target", &s.target),
        ("text", &s.text),
        ("url", &s.url),
        ("notice", &s.notice),
        ("nickname", &s.nickname),
        ("disposition", &s.disposition),
        ("disposition_key", &s.disposition_key),
        ("queue", &s.queue),
        ("comment", &s.comment),
        ("timeout", &s.timeout),
    ];
    for (k, v) in spanned {
        if let Some(v) = v {
            out.push((k, Some(v.span())));
        }
    }
    if s.user_data.is_some() {
        out.push(("user_data", None));
    }
    if s.keys.is_some() {
        out.push(("keys", None));
    }
    out
}

pub(super) struct OpSpec {
    mandatory: Vec<&'static str>,
    optional: Vec<&'static str>,
}

/// The step key that carries a wire parameter (`noticeText` is written `notice`), or `None` for
/// a wire parameter scenarios do not set (message types and routing hints stay the server's
/// defaults). Every wire parameter of `gws::ops` must be named here one way or the other; a
/// test makes adding one without a decision fail.
fn step_key(wire: &str) -> Option<Option<&'static str>> {
    Some(match wire {
        "nickname" => Some("nickname"),
        "text" => Some("text"),
        "url" => Some("url"),
        "noticeText" => Some("notice"),
        "disposition" => Some("disposition"),
        "dispositionKey" => Some("disposition_key"),
        "userData" => Some("user_data"),
        "keys" => Some("keys"),
        "comment" => Some("comment"),
        // The target group (user or queue by URI or path) is one `target` reference.
        "targetUri" | "targetPath" => Some("target"),
        "queueName" => Some("queue"),
        "messageType" | "treatAs" => None,
        _ => return None,
    })
}

/// Wire parameters the engine fills itself when the step leaves them out: Accept's `nickname` is
/// the agent's username.
const FILLED_BY_THE_ENGINE: &[&str] = &["nickname"];

/// Step parameters per operation, derived from the operation's wire parameters
/// ([`crate::gws::Operation::params`], protocol.md §5, §15.18): a mandatory wire parameter is a
/// mandatory step key (unless the engine fills it), a one-of group (`targetUri`/`targetPath`,
/// and Transfer's `queueName`) is one mandatory `target`.
fn op_spec(op: Capability) -> OpSpec {
    use crate::gws::ops::Presence;
    let mut spec = OpSpec { mandatory: Vec::new(), optional: Vec::new() };
    for p in crate::gws::Operation::params(op) {
        let key = match (p.presence, step_key(p.name).flatten()) {
            (Presence::OneOf, _) => "target",
            (_, Some(key)) => key,
            (_, None) => continue,
        };
        let mandatory = match p.presence {
            Presence::Mandatory => !FILLED_BY_THE_ENGINE.contains(&p.name),
            Presence::OneOf => true,
            Presence::Optional => false,
        };
        let list = if mandatory { &mut spec.mandatory } else { &mut spec.optional };
        if !list.contains(&key) {
            list.push(key);
        }
    }
    spec
}

fn param_help(op: Capability, param: &str) -> String {
    match param {
        "target" => match op {
            Capability::Consult => "who to consult: target = \"agents:<population>\", \"queue:<name>\" or \"user:<username>\"".to_owned(),
            Capability::RemoveParticipantFromConference => "who to remove: target = \"consultant\" (the agent an earlier Consult brought in)".to_owned(),
            _ => format!("who to {}: target = \"agents:<population>\", \"user:<username>\" or \"consultant\"", op.as_str().to_lowercase()),
        },
        "text" => "the message: text = \"Hello\"".to_owned(),
        "notice" => "the notice text: notice = \"...\"".to_owned(),
        "url" => "the link to push: url = \"https://example.com\"".to_owned(),
        "disposition" => "the disposition code: disposition = \"Resolved\"".to_owned(),
        "user_data" => "the keys and values: user_data = { key = \"value\" }".to_owned(),
        "keys" => "the user-data keys to delete: keys = [\"key\"]".to_owned(),
        "comment" => "the comment: comment = \"...\"".to_owned(),
        other => format!("add `{other}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gws::Operation;

    #[test]
    fn every_wire_parameter_has_a_step_decision() {
        for op in Capability::ALL {
            for p in Operation::params(*op) {
                assert!(step_key(p.name).is_some(), "{op}.{}: map it in step_key", p.name);
            }
        }
    }

    #[test]
    fn step_parameters_follow_the_wire_table() {
        let spec = op_spec(Capability::Consult);
        assert_eq!((spec.mandatory, spec.optional), (vec!["target"], vec![]));
        let spec = op_spec(Capability::Transfer);
        assert_eq!((spec.mandatory, spec.optional), (vec!["target"], vec!["text"]));
        let spec = op_spec(Capability::Accept);
        assert_eq!((spec.mandatory, spec.optional), (vec![], vec!["nickname"]));
        let spec = op_spec(Capability::SendCustomNotice);
        assert_eq!((spec.mandatory, spec.optional), (vec!["notice"], vec![]));
        let spec = op_spec(Capability::SetDisposition);
        assert_eq!((spec.mandatory, spec.optional), (vec!["disposition"], vec!["disposition_key"]));
        let spec = op_spec(Capability::Complete);
        assert_eq!((spec.mandatory, spec.optional), (vec![], vec!["queue", "text"]));
    }
}
