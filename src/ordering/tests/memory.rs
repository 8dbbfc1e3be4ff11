//! The checker's memory is bounded in bytes whatever the server sends (issue 9): a flood of
//! notifications about interactions never offered, each carrying 2 MB nicknames (and some 2 MB
//! ids), and the worst case the bounds allow, both measured by the checker's own accounting.

use super::*;
use crate::ordering::RETAINED_BYTES_BOUND;

const TWO_MB: usize = 2_000_000;

#[test]
fn a_flood_of_huge_notifications_about_unknown_interactions_stays_bounded() {
    let mut c: AgentChecker = AgentChecker::new("agent-1", Media::Chat, Profile::Strict);
    let huge = "n".repeat(TWO_MB);
    // Past the 256 tracked interactions the nicknames are 64 KiB (still far over what is kept),
    // so eviction is exercised without the test hashing gigabytes in a debug build.
    let large = "n".repeat(64 * 1024);
    let mut peak = 0;
    for i in 0..300u64 {
        let nickname = if i < 24 { &huge } else { &large };
        let cust = customer(nickname, "c1");
        let other = agent(nickname, "a2", "0123456789abcdef0123456789abcdef", Visibility::All);
        let id = match i % 40 {
            0 => format!("{i}-{}", "x".repeat(TWO_MB)),
            _ => format!("never-{i}"),
        };
        let n = participants_updated(
            Media::Chat,
            &id,
            InteractionState::Chatting,
            vec![],
            &[&cust, &other],
        );
        let raw = serde_json::to_string(&n).expect("serializes");
        let _ = c.observe_raw(i, &n, raw);
        let text = entry(1, EntryType::Text, &cust, Visibility::All, Some(nickname));
        let _ = c.observe(i, &ml(Media::Chat, &id, vec![text]));
        peak = peak.max(c.retained_bytes());
    }
    assert!(c.live_interactions() <= 256);
    assert!(peak <= RETAINED_BYTES_BOUND, "{peak} bytes retained");
    // Oversized participants are not kept at all, so the flood keeps far less than the bound:
    // ids, cut renderings and bookkeeping only.
    assert!(peak < RETAINED_BYTES_BOUND / 8, "{peak} bytes retained");
}

#[test]
fn the_largest_state_the_bounds_allow_is_under_the_stated_bound() {
    let mut c: AgentChecker = AgentChecker::new("agent-1", Media::Chat, Profile::Strict);
    let field = |i: usize, tag: &str| format!("{tag}{i}-{}", "f".repeat(256 - 8 - tag.len()));
    // Sixteen participants with every field at the largest kept size (and more, cut).
    let people: Vec<Participant> = (0..20)
        .map(|i| Participant {
            participant_id: field(i, "p").into(),
            id: Some(field(i, "i").into()),
            kind: ParticipantType::Agent,
            nickname: field(i, "n").into(),
            visibility: Some(Visibility::All),
            uri: Some(field(i, "u")),
            path: Some(field(i, "q")),
        })
        .collect();
    let refs: Vec<&Participant> = people.iter().collect();
    for i in 0..300u64 {
        let id = format!("{i:0>128}");
        for _ in 0..40 {
            c.operation_started(i, &id, Capability::SendMessage, None, ());
        }
        let n = participants_updated(Media::Chat, &id, InteractionState::Chatting, vec![], &refs);
        let _ = c.observe(i, &n);
        // The largest JSON kept as it arrived, for context (trailing spaces still decode).
        let empty = ml(Media::Chat, &id, vec![]);
        let json = serde_json::to_string(&empty).expect("serializes");
        let raw = format!("{json:<4096}");
        let _ = c.observe_raw(i, &empty, raw.as_str());
    }
    let full = c.retained_bytes();
    assert!(full <= RETAINED_BYTES_BOUND, "{full} bytes retained");
    // The bound is not vacuous: the worst case comes within a factor of two of it.
    assert!(full > RETAINED_BYTES_BOUND / 2, "{full} bytes retained");
}
