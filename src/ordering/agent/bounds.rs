//! What the checker keeps is bounded in bytes, not only in count, whatever the server sends
//! (issue 9: 256 interactions kept with full participant data, each carrying a 2 MB nickname,
//! took an agent to 1.9 GB). Interaction ids over [`MAX_ID_BYTES`] are kept as a prefix and a
//! hash of the whole, renderings are cut at [`MAX_RENDERING_BYTES`], and a roster keeps at most
//! [`MAX_PARTICIPANTS`] participants, without any whose fields exceed [`MAX_FIELD_BYTES`] (no
//! GWS sends such; the checker judges rosters without them). [`AgentChecker::retained_bytes`]
//! accounts for what is kept; [`RETAINED_BYTES_BOUND`] is its bound.

use std::borrow::Cow;
use std::mem::size_of;

use super::{AgentChecker, Ended, Interaction, Limbo};
use crate::gws::model::{Participant, ShortStr};
use crate::ordering::Party;

/// Interaction ids are GWS ids of 16 to 32 characters; a longer one is kept as a key.
pub(super) const MAX_ID_BYTES: usize = 128;
/// A notification's rendering kept for violation context.
pub(super) const MAX_RENDERING_BYTES: usize = 512;
/// A notification's JSON kept as it arrived, for violation context; a larger one is rendered
/// on arrival and kept as its rendering.
pub(super) const MAX_RAW_CONTEXT_BYTES: usize = 4096;
/// Participants kept per interaction (a chat has a customer and a few agents).
pub(super) const MAX_PARTICIPANTS: usize = 16;
/// A participant's id, nickname, uri or path longer than this is not kept.
pub(super) const MAX_FIELD_BYTES: usize = 256;

/// The most [`AgentChecker::retained_bytes`] can report, for any input: 256 interactions with a
/// full roster of the largest participants kept (and as many agents followed by implied
/// expectations), 32 recent notifications (4 KiB at most each), 64 ended ids and 64 held
/// expectations (the worst case is filled and measured in the tests). A checker of an agent
/// serving a few chats keeps a few KiB.
pub const RETAINED_BYTES_BOUND: usize = 10 << 20;

/// The key an interaction id is kept under: the id itself, or for an oversized one its prefix
/// and a hash of the whole (distinct ids stay distinct but for a 64-bit collision).
pub(super) fn retained_id(id: &str) -> Cow<'_, str> {
    if id.len() <= MAX_ID_BYTES {
        return Cow::Borrowed(id);
    }
    Cow::Owned(format!("{}…#{:016x}", prefix(id, 64), fnv1a(id.as_bytes())))
}

/// A rendering cut at [`MAX_RENDERING_BYTES`] (on a character boundary), marked when cut.
pub(super) fn bounded_text(text: String) -> String {
    if text.len() <= MAX_RENDERING_BYTES {
        return text;
    }
    format!("{}… ({} bytes)", prefix(&text, MAX_RENDERING_BYTES), text.len())
}

/// Sets `kept` to the roster as kept from `all`: at most [`MAX_PARTICIPANTS`], none with an
/// oversized field. Most notifications repeat the roster the checker already keeps; that is
/// compared, not cloned again (a clone is an allocation per string).
pub(super) fn retain_participants(kept: &mut Vec<Participant>, all: &[Participant]) {
    let retained = || all.iter().filter(|p| fits(p)).take(MAX_PARTICIPANTS);
    if !retained().eq(kept.iter()) {
        *kept = retained().cloned().collect();
    }
}

/// Whether the checker keeps `p` at all: none of its fields over [`MAX_FIELD_BYTES`].
pub(super) fn fits(p: &Participant) -> bool {
    let fields = [
        Some(p.participant_id.len()),
        p.id.as_ref().map(|s| s.len()),
        Some(p.nickname.len()),
        p.uri.as_ref().map(String::len),
        p.path.as_ref().map(String::len),
    ];
    fields.iter().flatten().all(|len| *len <= MAX_FIELD_BYTES)
}

fn prefix(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    // Bounded: at most 3 steps back to a character boundary.
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// FNV-1a, 64 bits: a stable hash with no dependency and no random keys.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

fn string(s: &String) -> usize {
    s.capacity()
}

fn opt(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, string)
}

/// What a short string holds on the heap: nothing while it is inline.
fn short(s: &ShortStr) -> usize {
    if s.is_heap_allocated() { s.capacity() } else { 0 }
}

fn participant(p: &Participant) -> usize {
    short(&p.participant_id)
        + p.id.as_ref().map_or(0, short)
        + short(&p.nickname)
        + opt(&p.uri)
        + opt(&p.path)
}

fn party(p: &Option<Party>) -> usize {
    p.as_ref().map_or(0, |p| opt(&p.nickname) + opt(&p.user_id) + opt(&p.participant_id))
}

impl<T> AgentChecker<T> {
    /// The bytes this checker keeps: its structures' capacities and the heap data they own (an
    /// accounting of what the checker holds, not of the allocator's overhead). At most
    /// [`RETAINED_BYTES_BOUND`].
    pub fn retained_bytes(&self) -> usize {
        let interaction = |ix: &Interaction<T>| {
            size_of::<Interaction<T>>()
                + string(&ix.id)
                + ix.fingerprints.capacity() * size_of::<u64>()
                + ix.participants.capacity() * size_of::<Participant>()
                + ix.participants.iter().map(participant).sum::<usize>()
                + ix.instances.capacity() * size_of::<super::Instance<T>>()
                + ix.instances.iter().map(|i| party(&i.target)).sum::<usize>()
        };
        let limbo = |l: &Limbo<T>| string(&l.id) + string(&l.got) + party(&l.inst.target);
        size_of::<Self>()
            + string(&self.name)
            + opt(&self.me.nickname)
            + opt(&self.me.user_id)
            + self.live.capacity() * size_of::<Interaction<T>>()
            + self
                .live
                .iter()
                .map(|ix| interaction(ix) - size_of::<Interaction<T>>())
                .sum::<usize>()
            + self.ended.capacity() * size_of::<Ended>()
            + self.ended.iter().map(|e| string(&e.id)).sum::<usize>()
            + self.recent.capacity() * size_of::<(String, super::Recent)>()
            + self.recent.iter().map(|(i, r)| string(i) + r.heap_bytes()).sum::<usize>()
            + self.limbo.capacity() * size_of::<Limbo<T>>()
            + self.limbo.iter().map(limbo).sum::<usize>()
    }
}
