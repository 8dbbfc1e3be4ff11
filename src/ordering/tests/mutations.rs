//! Mutated copies of the seed sequences (swapped, dropped, duplicated, leaked, re-indexed, late,
//! after the end): each is caught, with the right kind.

use super::seeds::{chat_removed, chat_remover, fb_consult_originator, fb_remover};
use super::*;
use crate::ordering::{CustomerChecker, render};
use ViolationKind as K;

/// The position of the last notification whose rendering contains `needle`.
#[track_caller]
fn find(events: &[Event], needle: &str) -> usize {
    events
        .iter()
        .rposition(|e| matches!(e, Event::Note(n) if render(n).contains(needle)))
        .unwrap_or_else(|| panic!("no notification with {needle:?}"))
}

fn swapped(mut ev: Vec<Event>, a: &str, b: &str) -> Vec<Event> {
    let (i, j) = (find(&ev, a), find(&ev, b));
    ev.swap(i, j);
    ev
}

fn dropped(mut ev: Vec<Event>, needle: &str) -> Vec<Event> {
    let i = find(&ev, needle);
    ev.remove(i);
    ev
}

fn duplicated(mut ev: Vec<Event>, needle: &str) -> Vec<Event> {
    let i = find(&ev, needle);
    let copy = ev[i].clone();
    ev.insert(i + 1, copy);
    ev
}

fn delayed(mut ev: Vec<Event>, needle: &str, ms: u64) -> Vec<Event> {
    let i = find(&ev, needle);
    ev.insert(i, Event::Wait(ms));
    ev
}

const BOTH: [Profile; 2] = [Profile::Strict, Profile::Documented];

#[test]
fn swapped_steps_are_out_of_order() {
    for profile in BOTH {
        let ev = swapped(
            chat_remover(true),
            "ParticipantsUpdated(Chatting) [test_consult, test",
            "ParticipantLeft",
        );
        assert_kinds(&run("test_consult", Media::Chat, profile, &ev), &[K::OutOfOrder]);
        let ev = swapped(chat_removed(), "ParticipantsUpdated(LeftChat)", "ParticipantLeft");
        assert_kinds(&run("chat_consult", Media::Chat, profile, &ev), &[K::OutOfOrder]);
        let ev = swapped(chat_removed(), "StatusChange(LeftChat)", "ParticipantLeft");
        assert_kinds(&run("chat_consult", Media::Chat, profile, &ev), &[K::OutOfOrder]);
        let ev = swapped(
            fb_consult_originator(),
            "ParticipantsUpdated(Chatting) [VitaliyOnv, Agent2",
            "ParticipantJoined from Agent2",
        );
        assert_kinds(&run("TestName", Media::Facebook, profile, &ev), &[K::OutOfOrder]);
    }
}

#[test]
fn a_present_optional_notice_must_still_be_in_place() {
    let ev =
        swapped(chat_remover(true), "Notice", "ParticipantsUpdated(Chatting) [test_consult, test");
    assert_kinds(&run("test_consult", Media::Chat, Profile::Documented, &ev), &[K::OutOfOrder]);
}

#[test]
fn dropped_required_steps_are_missing() {
    for profile in BOTH {
        let ev = dropped(chat_removed(), "ParticipantLeft");
        let v = run("chat_consult", Media::Chat, profile, &ev);
        assert_kinds(&v, &[K::Missing]);
        assert!(v[0].expected.contains("ParticipantLeft from me"), "{}", v[0]);
        let ev = dropped(chat_removed(), "StatusChange(LeftChat)");
        assert_kinds(&run("chat_consult", Media::Chat, profile, &ev), &[K::Missing]);
        let ev = dropped(fb_consult_originator(), "ParticipantJoined from Agent2");
        assert_kinds(&run("TestName", Media::Facebook, profile, &ev), &[K::Missing]);
    }
    // The Notice is required only in strict.
    let ev = dropped(chat_remover(true), "Notice");
    assert_kinds(&run("test_consult", Media::Chat, Profile::Strict, &ev), &[K::Missing]);
    assert_clean(&run("test_consult", Media::Chat, Profile::Documented, &ev));
}

#[test]
fn duplicated_deliveries_are_duplicates() {
    for profile in BOTH {
        let ev = duplicated(fb_consult_originator(), "ParticipantJoined from Agent2");
        assert_kinds(&run("TestName", Media::Facebook, profile, &ev), &[K::Duplicate]);
        let ev = duplicated(chat_removed(), "StatusChange(Completed)");
        assert_kinds(&run("chat_consult", Media::Chat, profile, &ev), &[K::Duplicate]);
        let ev = duplicated(chat_removed(), "ParticipantsUpdated(LeftChat)");
        assert_kinds(&run("chat_consult", Media::Chat, profile, &ev), &[K::Duplicate]);
    }
}

#[test]
fn reindexed_entries_are_index_regressions() {
    for profile in BOTH {
        let mut ev = fb_remover(false);
        let i = find(&ev, "ParticipantLeft");
        if let Event::Note(n) = &mut ev[i]
            && let Notification::MessageLogUpdated(log) = n.as_mut()
        {
            log.messages[0].index = 4;
        }
        assert_kinds(&run("TestName", Media::Facebook, profile, &ev), &[K::IndexRegression]);
    }
}

#[test]
fn late_steps_are_missing() {
    for profile in BOTH {
        // 6 s before the removed agent's StatusChange(LeftChat); the timeout is 5 s. The late
        // steps then match nothing and are not reported a second time.
        let ev = delayed(chat_removed(), "StatusChange(LeftChat)", 6_000);
        let v = run("chat_consult", Media::Chat, profile, &ev);
        assert!(v.iter().all(|v| v.kind == K::Missing) && !v.is_empty(), "{v:?}");
        // The Consult clock starts with its first step, so a slow consultant is fine ...
        let ev = delayed(
            fb_consult_originator(),
            "ParticipantsUpdated(Chatting) [VitaliyOnv, Agent2",
            60_000,
        );
        assert_clean(&run("TestName", Media::Facebook, profile, &ev));
        // ... but not a slow second step.
        let ev = delayed(fb_consult_originator(), "ParticipantJoined from Agent2", 6_000);
        assert_kinds(&run("TestName", Media::Facebook, profile, &ev), &[K::Missing]);
    }
}

#[test]
fn anything_after_completed_is_unexpected_until_a_new_invitation() {
    for profile in BOTH {
        let mut ev = chat_removed();
        let text = ml(
            Media::Chat,
            "00010a9FSGFP001F",
            vec![entry(8, EntryType::Text, &customer("c", "1"), Visibility::All, Some("hello?"))],
        );
        ev.push(Event::Note(Box::new(text)));
        let v = run("chat_consult", Media::Chat, profile, &ev);
        assert_kinds(&v, &[K::Unexpected]);
        // A new invitation for the same id starts afresh (a transfer back, §6.11).
        let mut ev = chat_removed();
        ev.extend(chat_removed());
        assert_clean(&run("chat_consult", Media::Chat, profile, &ev));
    }
}

#[test]
fn violations_say_who_where_what_and_around() {
    let ev = dropped(chat_removed(), "ParticipantLeft");
    let v = run("chat_consult", Media::Chat, Profile::Strict, &ev);
    let v = &v[0];
    assert_eq!(v.agent, "chat_consult");
    assert_eq!(v.interaction, "00010a9FSGFP001F");
    assert!(v.got.contains("StatusChange(Completed)"), "{v}");
    assert!(v.context.iter().any(|c| c.contains("ParticipantsUpdated(LeftChat)")), "{v}");
    assert!(v.context.len() <= 6);
    assert_eq!(v.kind.as_str(), "missing");
}

// --- Customers -----------------------------------------------------------------------------------

fn customer_view(entries: &[LogEntry]) -> Vec<LogEntry> {
    // The customer API omits visibility (§15.19).
    entries
        .iter()
        .cloned()
        .map(|mut e| {
            e.visibility = None;
            e.from.visibility = None;
            e
        })
        .collect()
}

fn customer_transcript() -> Vec<LogEntry> {
    let c = customer("VitaliyOnv", "1");
    let a = agent("TestName", "2", "5e101708f14442c7ab79814bb4f799b2", Visibility::All);
    customer_view(&[
        entry(1, EntryType::ParticipantJoined, &c, Visibility::All, None),
        entry(2, EntryType::Text, &c, Visibility::All, Some("hi")),
        entry(3, EntryType::ParticipantJoined, &a, Visibility::All, None),
        entry(6, EntryType::Text, &a, Visibility::All, Some("hello")),
    ])
}

fn check_customer(polls: &[Vec<LogEntry>], hidden: &[&str]) -> Vec<Violation> {
    let mut checker = CustomerChecker::new("VitaliyOnv");
    for h in hidden {
        checker.hide_participant(h);
    }
    polls.iter().enumerate().flat_map(|(i, p)| checker.observe(i as u64, "chat-1", p)).collect()
}

#[test]
fn a_customer_transcript_with_gaps_passes() {
    let t = customer_transcript();
    assert_clean(&check_customer(&[t[..2].to_vec(), t[2..].to_vec()], &["Agent2"]));
}

#[test]
fn agents_entries_at_a_customer_are_leaks() {
    let b = agent("Agent2", "3", "e2c90c960d3d40c79684818983ceb314", Visibility::Agents);
    let a = agent("TestName", "2", "5e101708f14442c7ab79814bb4f799b2", Visibility::All);
    // A server that sends visibility along.
    let join = entry(4, EntryType::ParticipantJoined, &b, Visibility::Agents, None);
    assert_kinds(&check_customer(&[vec![join]], &[]), &[K::VisibilityLeak]);
    // A server that strips it: caught through the declared consultant ...
    let text = customer_view(&[entry(4, EntryType::Text, &b, Visibility::Agents, Some("psst"))]);
    assert_kinds(&check_customer(std::slice::from_ref(&text), &["Agent2"]), &[K::VisibilityLeak]);
    assert_clean(&check_customer(&[text], &[]));
    // ... or through the content of the REMOVE_PARTICIPANT notice.
    let notice = customer_view(&[entry(
        5,
        EntryType::Notice,
        &a,
        Visibility::Agents,
        Some("REMOVE_PARTICIPANT_FROM_CONFERENCEe2c90c960d3d40c79684818983ceb314"),
    )]);
    assert_kinds(&check_customer(&[notice], &[]), &[K::VisibilityLeak]);
}

#[test]
fn customer_repeats_and_regressions_are_caught() {
    let t = customer_transcript();
    let v = check_customer(&[t[..3].to_vec(), t[2..].to_vec()], &[]);
    assert_kinds(&v, &[K::Duplicate]);
    let mut back = t[3].clone();
    back.index = 2;
    let v = check_customer(&[t.clone(), vec![back]], &[]);
    assert_kinds(&v, &[K::IndexRegression]);
}

#[test]
fn a_refused_operation_owes_nothing() {
    let mut checker = AgentChecker::new("Ann", Media::Chat, Profile::Strict);
    checker.operation_started(0, "IX", Capability::Complete, None, ());
    checker.operation_started(1, "IX", Capability::SendMessage, None, ());
    checker.operation_failed("IX", Capability::Complete);
    let v = checker.finish(100_000);
    assert_kinds(&v, &[K::Missing]);
    assert!(v[0].expected.starts_with("SendMessage"), "{}", v[0]);
}

#[test]
fn finishing_with_a_grace_spares_only_the_youngest_operations() {
    let mut checker = AgentChecker::new("Ann", Media::Chat, Profile::Strict);
    checker.operation_started(0, "IX", Capability::SendMessage, None, ());
    checker.operation_started(9_500, "IX", Capability::Complete, None, ());
    // At 10 s with a 1 s grace: the SendMessage (10 s old) is missing; the Complete (500 ms
    // old) may still be on the wire.
    let v = checker.finish_with_grace(10_000, 1_000);
    assert_kinds(&v, &[K::Missing]);
    assert!(v[0].expected.starts_with("SendMessage"), "{}", v[0]);
    assert_eq!(checker.live_interactions(), 0, "finishing forgets everything");
}
