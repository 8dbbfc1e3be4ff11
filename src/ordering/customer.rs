//! The per-customer checker: fed the log entries a customer's message polls return, it finds
//! entries a customer must never see, repeated entries and index regressions.
//!
//! The customer API omits `visibility` (§15.19), so an `Agents`-only entry that leaks can only be
//! recognised by what it carries: a `visibility` or `from.visibility` of `Agents` if a server
//! sends them, the REMOVE_PARTICIPANT Notice (Agents-only by §2.4), or a `from` nickname the
//! caller has declared hidden (a consultant it knows joined with visibility `Agents`). A leak that
//! carries none of these (say a consultant's Text from an agent the caller did not declare) is
//! not detectable from the customer side alone; the engine's cross-participant checker knows
//! more (the consultants' nicknames, the texts sent to agents only) and says so through
//! [`CustomerChecker::observe_with`].

use std::collections::VecDeque;

use super::rules::REMOVE_NOTICE_PREFIX;
use super::{Violation, ViolationKind, render_entry_parts, value_fingerprint};
use crate::gws::model::{EntryType, LogEntry, Visibility};

/// Entries remembered per chat to tell a repeated delivery (duplicate) from a new entry with an
/// old index (index regression); older repeats read as index regressions.
const FINGERPRINTS: usize = 64;
const CONTEXT_SHOWN: usize = 6;
const MAX_CHATS: usize = 16;

#[derive(Debug)]
struct Chat {
    id: String,
    last_index: Option<u64>,
    fingerprints: VecDeque<u64>,
    recent: VecDeque<Recent>,
}

/// An entry as the context of a finding shows it, kept unrendered: most polls find nothing, and
/// rendering every entry was most of this checker's cost.
#[derive(Debug)]
struct Recent {
    index: u64,
    kind: EntryType,
    from: String,
    visibility: Option<Visibility>,
}

impl Recent {
    fn of(e: &LogEntry) -> Self {
        Recent {
            index: e.index,
            kind: e.kind,
            from: e.from.nickname.to_string(),
            visibility: e.visibility,
        }
    }

    fn render(&self) -> String {
        render_entry_parts(self.index, self.kind, &self.from, self.visibility)
    }
}

/// The ordering checker for one simulated customer.
#[derive(Debug)]
pub struct CustomerChecker {
    name: String,
    hidden: Vec<String>,
    chats: Vec<Chat>,
}

impl CustomerChecker {
    pub fn new(customer_name: &str) -> Self {
        CustomerChecker { name: customer_name.to_owned(), hidden: Vec::new(), chats: Vec::new() }
    }

    /// Declares a participant (by nickname) the customer must never hear from: an agent that
    /// joined with visibility `Agents`.
    pub fn hide_participant(&mut self, nickname: &str) {
        if !self.hidden.iter().any(|h| h == nickname) {
            self.hidden.push(nickname.to_owned());
        }
    }

    /// Undoes [`Self::hide_participant`], e.g. when a consultant is conferenced in (§6.4).
    pub fn reveal_participant(&mut self, nickname: &str) {
        self.hidden.retain(|h| h != nickname);
    }

    /// Forgets a chat that has ended.
    pub fn forget(&mut self, chat_id: &str) {
        self.chats.retain(|c| c.id != chat_id);
    }

    /// Checks the entries one poll of `GET /api/v2/chats/{chat_id}/messages` (without `index`:
    /// only entries not returned before) gave the customer, in the order given.
    pub fn observe(&mut self, now_ms: u64, chat_id: &str, entries: &[LogEntry]) -> Vec<Violation> {
        self.observe_with(now_ms, chat_id, entries, |_| None)
    }

    /// [`Self::observe`], with what the caller knows besides: `known` says why an entry is
    /// Agents-only when nothing in the entry shows it (a text the simulator sent to agents
    /// only, a consultant's join; see [`super::CrossChecker::hidden_from_customer`]).
    pub fn observe_with(
        &mut self,
        now_ms: u64,
        chat_id: &str,
        entries: &[LogEntry],
        known: impl Fn(&LogEntry) -> Option<&'static str>,
    ) -> Vec<Violation> {
        let pos = match self.chats.iter().position(|c| c.id == chat_id) {
            Some(pos) => pos,
            None => {
                if self.chats.len() >= MAX_CHATS {
                    self.chats.remove(0);
                }
                self.chats.push(Chat {
                    id: chat_id.to_owned(),
                    last_index: None,
                    fingerprints: VecDeque::new(),
                    recent: VecDeque::new(),
                });
                self.chats.len() - 1
            }
        };
        let hidden = &self.hidden;
        let chat = &mut self.chats[pos];
        let mut findings: Vec<(ViolationKind, String, String)> = Vec::new();
        for e in entries {
            if chat.recent.len() >= CONTEXT_SHOWN {
                chat.recent.pop_front();
            }
            chat.recent.push_back(Recent::of(e));
            let got = || chat.recent.back().map(Recent::render).unwrap_or_default();
            let fp = value_fingerprint(e);
            if chat.fingerprints.contains(&fp) {
                findings.push((ViolationKind::Duplicate, "each entry once".to_owned(), got()));
                continue;
            }
            if chat.fingerprints.len() >= FINGERPRINTS {
                chat.fingerprints.pop_front();
            }
            chat.fingerprints.push_back(fp);
            if let Some(why) = leak(e, hidden).or_else(|| known(e)) {
                findings.push((
                    ViolationKind::VisibilityLeak,
                    "no Agents-only entry at a customer".to_owned(),
                    format!("{}: {why}", got()),
                ));
            }
            if let Some(last) = chat.last_index
                && e.index <= last
            {
                findings.push((
                    ViolationKind::IndexRegression,
                    format!("a log index above {last}"),
                    got(),
                ));
            }
            chat.last_index = Some(chat.last_index.map_or(e.index, |l| l.max(e.index)));
        }
        if findings.is_empty() {
            return Vec::new();
        }
        let context: Vec<String> = chat.recent.iter().map(Recent::render).collect();
        findings
            .into_iter()
            .map(|(kind, expected, got)| Violation {
                kind,
                agent: self.name.clone(),
                interaction: chat_id.to_owned(),
                expected,
                got,
                context: context.clone(),
                at_ms: now_ms,
            })
            .collect()
    }
}

/// Why an entry is Agents-only, if it visibly is.
fn leak(e: &LogEntry, hidden: &[String]) -> Option<&'static str> {
    if e.visibility == Some(Visibility::Agents) {
        return Some("visibility Agents");
    }
    if e.from.visibility == Some(Visibility::Agents) {
        return Some("from a participant with visibility Agents");
    }
    if e.kind == EntryType::Notice
        && e.text.as_deref().is_some_and(|t| t.starts_with(REMOVE_NOTICE_PREFIX))
    {
        return Some("the REMOVE_PARTICIPANT notice is for agents only");
    }
    if hidden.iter().any(|h| *h == e.from.nickname) {
        return Some("from a participant hidden from the customer");
    }
    None
}
