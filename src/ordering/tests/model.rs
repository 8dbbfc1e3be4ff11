//! Property test of the checker against a simple model of the strict reference server (§15).
//!
//! The model generates, for one agent, a few interactions each following one flow of §15 (accept
//! and complete, leave, reject, revoke, being removed, consult and remove, the customer leaving,
//! a conference member leaving, messages), with unrelated notifications (customer texts and
//! typing, property updates, channel-state messages) at the points where the server may send
//! them, and interleaves the interactions at random. It knows which notifications are required
//! steps, which pairs of steps are ordered, and which steps are terminal, so it can say what each
//! mutation must produce. Properties: a valid feed gives no violation in either profile; one
//! mutation gives at least one violation of the kind the mutation implies (strict profile), and
//! nothing of any other kind.

use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;
use EntryType as E;
use InteractionState as S;
use ViolationKind as K;
use Visibility::{Agents, All};

const TIMEOUT_MS: u64 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Complete,
    LeaveThenComplete,
    Reject,
    Revoked,
    Removed,
    ConsultThenRemove,
    CustomerLeaves,
    ConferenceMemberLeaves,
    Messages,
}

const FLOWS: [Flow; 9] = [
    Flow::Complete,
    Flow::LeaveThenComplete,
    Flow::Reject,
    Flow::Revoked,
    Flow::Removed,
    Flow::ConsultThenRemove,
    Flow::CustomerLeaves,
    Flow::ConferenceMemberLeaves,
    Flow::Messages,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mutation {
    Drop,
    Duplicate,
    Swap,
    Reindex,
    Late,
    AfterEnd,
}

impl Mutation {
    fn kind(self) -> ViolationKind {
        match self {
            Mutation::Drop | Mutation::Late => K::Missing,
            Mutation::Duplicate => K::Duplicate,
            Mutation::Swap => K::OutOfOrder,
            Mutation::Reindex => K::IndexRegression,
            Mutation::AfterEnd => K::Unexpected,
        }
    }
}

#[derive(Debug, Clone)]
enum What {
    Op(Capability, Option<Party>),
    Note(Box<Notification>),
    /// A notification about no interaction (channel state, other media).
    Global(Box<Notification>),
}

/// One model event, with what the model knows about it.
#[derive(Debug, Clone)]
struct MEv {
    ix: usize,
    what: What,
    /// Dropping it must be reported as missing.
    required: bool,
    /// The expectation it is a step of; consecutive steps of one group are ordered.
    group: Option<u32>,
    terminal: bool,
    /// Delaying it past the timeout must be reported (its expectation's clock is running).
    late_detectable: bool,
}

struct People {
    me: Participant,
    bob_all: Participant,
    bob_agents: Participant,
    cust: Participant,
}

fn people() -> People {
    People {
        me: agent("Ann", "00A0000000000001", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", All),
        bob_all: agent("Bob", "00B0000000000002", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", All),
        bob_agents: agent("Bob", "00B0000000000002", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", Agents),
        cust: customer("Cust", "00C0000000000003"),
    }
}

struct Builder<'a> {
    media: Media,
    id: String,
    ix: usize,
    evs: Vec<MEv>,
    group: u32,
    /// §15.5: the referenceId of the agent's last operation, copied into the state changes it
    /// causes; `None` while building notifications the agent did not cause.
    reference: Option<u64>,
    next_reference: u64,
    rng: &'a mut SmallRng,
}

impl Builder<'_> {
    fn push(&mut self, what: What, required: bool, group: Option<u32>, terminal: bool, late: bool) {
        self.evs.push(MEv { ix: self.ix, what, required, group, terminal, late_detectable: late });
    }

    fn op(&mut self, op: Capability, target: Option<Party>) {
        self.next_reference += 1;
        self.reference = Some(self.next_reference);
        self.push(What::Op(op, target), false, None, false, false);
    }

    /// A new expectation group.
    fn group(&mut self) -> u32 {
        self.group += 1;
        self.group
    }

    /// A required step of `group`; `late`: its expectation's clock already runs.
    fn step(&mut self, n: Notification, group: u32, late: bool) {
        self.push(What::Note(Box::new(n)), true, Some(group), false, late);
    }

    fn terminal(&mut self, n: Notification, required: bool, group: Option<u32>) {
        self.push(What::Note(Box::new(n)), required, group, true, required);
    }

    fn status(&self, state: InteractionState, list: &[&Participant]) -> Notification {
        let kind = NotificationType::StatusChange;
        sc(self.media, &self.id, kind, state, vec![], list, self.reference)
    }

    fn pu(&self, state: InteractionState, list: &[&Participant]) -> Notification {
        let kind = NotificationType::ParticipantsUpdated;
        sc(self.media, &self.id, kind, state, vec![], list, self.reference)
    }

    /// What follows is not caused by an operation of this agent.
    fn not_mine(&mut self) {
        self.reference = None;
    }

    /// Index 0 is a placeholder: indices are assigned in delivery order after interleaving.
    fn ml(&self, entries: &[(EntryType, &Participant, Visibility)]) -> Notification {
        let entries =
            entries.iter().map(|(k, from, vis)| entry(0, *k, from, *vis, Some("x"))).collect();
        ml(self.media, &self.id, entries)
    }

    /// Up to two unrelated notifications the server may send while the agent chats.
    fn noise(&mut self, talkers: &[&Participant], list: &[&Participant]) {
        for _ in 0..self.rng.random_range(0..=2) {
            let n = match self.rng.random_range(0..4) {
                0 => sc(
                    self.media,
                    &self.id,
                    NotificationType::PropertiesUpdated,
                    S::Chatting,
                    vec![],
                    list,
                    None,
                ),
                k => {
                    let who = talkers[self.rng.random_range(0..talkers.len())];
                    let kind = [E::Text, E::TypingStarted, E::TypingStopped][k - 1];
                    self.ml(&[(kind, who, who.visibility.unwrap_or(All))])
                }
            };
            self.push(What::Note(Box::new(n)), false, None, false, false);
        }
    }

    fn invite(&mut self) {
        let p = people();
        let n = status(
            self.media,
            &self.id,
            S::Invited,
            vec![Capability::Accept, Capability::Reject],
            &[&p.cust],
        );
        self.push(What::Note(Box::new(n)), false, None, false, false);
    }

    /// Accept and its three steps; `others` are agents already in the interaction.
    fn accept(&mut self, others: &[&Participant]) {
        let p = people();
        let mut list = vec![&p.cust];
        list.extend(others);
        list.push(&p.me);
        self.op(Capability::Accept, None);
        let g = self.group();
        self.step(self.status(S::Chatting, &list), g, true);
        self.step(self.pu(S::Chatting, &list), g, true);
        let mut history = vec![(E::ParticipantJoined, &p.cust, All), (E::Text, &p.cust, All)];
        history.extend(others.iter().map(|o| (E::ParticipantJoined, *o, All)));
        history.push((E::ParticipantJoined, &p.me, All));
        let h = self.ml(&history);
        self.step(h, g, true);
    }

    fn complete(&mut self, list: &[&Participant]) {
        self.op(Capability::Complete, None);
        let g = self.group();
        self.terminal(self.status(S::Completed, list), true, Some(g));
    }
}

fn flow_events(flow: Flow, media: Media, ix: usize, rng: &mut SmallRng) -> Vec<MEv> {
    let p = people();
    let (me, cust, bob_all, bob_agents) = (&p.me, &p.cust, &p.bob_all, &p.bob_agents);
    let mut b = Builder {
        media,
        id: format!("IX{ix:02}"),
        ix,
        evs: Vec::new(),
        group: 0,
        reference: None,
        next_reference: 0,
        rng,
    };
    b.invite();
    match flow {
        Flow::Complete => {
            b.accept(&[]);
            b.noise(&[cust], &[cust, me]);
            b.complete(&[cust, me]);
        }
        Flow::LeaveThenComplete => {
            b.accept(&[]);
            b.noise(&[cust, me], &[cust, me]);
            b.op(Capability::Leave, None);
            let g = b.group();
            b.step(b.status(S::LeftChat, &[cust]), g, true);
            b.complete(&[cust]);
        }
        Flow::Reject => {
            b.op(Capability::Reject, None);
            let g = b.group();
            b.terminal(b.status(S::Completed, &[cust]), true, Some(g));
        }
        Flow::Revoked => {
            // Dropping the Revoked leaves nothing to notice: not required.
            b.terminal(b.status(S::Revoked, &[cust]), false, None);
        }
        Flow::Removed => {
            b.accept(&[bob_all]);
            b.noise(&[cust, bob_all], &[cust, bob_all, me]);
            b.not_mine();
            let g = b.group();
            // The first step starts the implied expectation, so delaying it delays its clock.
            b.step(b.pu(S::LeftChat, &[cust, bob_all]), g, false);
            b.step(b.ml(&[(E::ParticipantLeft, me, All)]), g, true);
            b.step(b.status(S::LeftChat, &[cust, bob_all]), g, true);
            b.terminal(b.status(S::Completed, &[cust, bob_all]), true, Some(g));
        }
        Flow::ConsultThenRemove => {
            b.accept(&[]);
            b.noise(&[cust], &[cust, me]);
            b.op(Capability::Consult, None);
            b.not_mine();
            let g = b.group();
            // The Consult clock starts with its first step (the consultant's acceptance).
            b.step(b.pu(S::Chatting, &[cust, bob_agents, me]), g, false);
            b.step(b.ml(&[(E::ParticipantJoined, bob_agents, Agents)]), g, true);
            b.noise(&[cust, bob_agents], &[cust, bob_agents, me]);
            let target = Party::default().with_user_id("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
            b.op(Capability::RemoveParticipantFromConference, Some(target));
            let g = b.group();
            let mut notice = b.ml(&[(E::Notice, me, Agents)]);
            if let Notification::MessageLogUpdated(log) = &mut notice {
                log.messages[0].text = Some(
                    "REMOVE_PARTICIPANT_FROM_CONFERENCEbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb".into(),
                );
            }
            b.step(notice, g, true);
            b.step(b.pu(S::Chatting, &[cust, me]), g, true);
            b.step(b.ml(&[(E::ParticipantLeft, bob_agents, Agents)]), g, true);
            b.noise(&[cust], &[cust, me]);
            b.complete(&[cust, me]);
        }
        Flow::CustomerLeaves => {
            b.accept(&[]);
            b.noise(&[cust], &[cust, me]);
            b.not_mine();
            let g = b.group();
            b.step(b.pu(S::Chatting, &[me]), g, false);
            b.step(b.ml(&[(E::ParticipantLeft, cust, All)]), g, true);
            b.complete(&[me]);
        }
        Flow::ConferenceMemberLeaves => {
            b.accept(&[]);
            b.op(Capability::Invite, None);
            b.not_mine();
            let g = b.group();
            b.step(b.pu(S::Chatting, &[cust, bob_all, me]), g, false);
            b.step(b.ml(&[(E::ParticipantJoined, bob_all, All)]), g, true);
            b.noise(&[cust, bob_all], &[cust, bob_all, me]);
            b.not_mine();
            let g = b.group();
            b.step(b.pu(S::Chatting, &[cust, me]), g, false);
            b.step(b.ml(&[(E::ParticipantLeft, bob_all, All)]), g, true);
            b.complete(&[cust, me]);
        }
        Flow::Messages => {
            b.accept(&[]);
            for (op, kind) in [
                (Capability::SendMessage, E::Text),
                (Capability::SendStartTypingNotification, E::TypingStarted),
                (Capability::SendStopTypingNotification, E::TypingStopped),
            ] {
                b.noise(&[cust], &[cust, me]);
                b.op(op, None);
                let g = b.group();
                b.step(b.ml(&[(kind, me, All)]), g, true);
            }
            b.complete(&[cust, me]);
        }
    }
    // Groups are per interaction: make them unique across interactions.
    for e in &mut b.evs {
        e.group = e.group.map(|g| g + 1000 * ix as u32);
    }
    b.evs
}

/// Interleaves the flows at random, adds global noise, and numbers log entries per interaction
/// in delivery order (with random gaps, as visibility filtering leaves, §2.4).
fn feed(flows: &[Flow], media: Media, seed: u64) -> Vec<MEv> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut queues: Vec<std::collections::VecDeque<MEv>> = flows
        .iter()
        .enumerate()
        .map(|(ix, f)| flow_events(*f, media, ix, &mut rng).into())
        .collect();
    let mut next_index = vec![1u64; flows.len()];
    let mut out = Vec::new();
    loop {
        let live: Vec<usize> = (0..queues.len()).filter(|&q| !queues[q].is_empty()).collect();
        if live.is_empty() {
            break;
        }
        if rng.random_range(0..10) == 0 {
            let n = if rng.random() {
                Notification::Unknown
            } else {
                Notification::ChannelStateChangeMessageV2(crate::gws::model::ChannelStateChange {
                    channels: vec![],
                })
            };
            out.push(MEv {
                ix: usize::MAX,
                what: What::Global(Box::new(n)),
                required: false,
                group: None,
                terminal: false,
                late_detectable: false,
            });
        }
        let q = live[rng.random_range(0..live.len())];
        let Some(mut ev) = queues[q].pop_front() else { break };
        if let What::Note(n) = &mut ev.what
            && let Notification::MessageLogUpdated(log) = n.as_mut()
        {
            next_index[q] += rng.random_range(0..=2);
            for m in &mut log.messages {
                m.index = next_index[q];
                next_index[q] += 1;
            }
        }
        out.push(ev);
    }
    out
}

fn is_note(e: &MEv) -> bool {
    matches!(e.what, What::Note(_))
}

/// Applies a mutation at a random eligible place; `None` if the feed has no such place.
fn mutate(mut evs: Vec<MEv>, m: Mutation, pick: usize) -> Option<Vec<MEv>> {
    let choose = |cands: Vec<usize>| -> Option<usize> {
        (!cands.is_empty()).then(|| cands[pick % cands.len()])
    };
    match m {
        Mutation::Drop => {
            let i = choose((0..evs.len()).filter(|&i| evs[i].required).collect())?;
            evs.remove(i);
        }
        Mutation::Duplicate => {
            let i = choose(
                (0..evs.len())
                    .filter(|&i| match &evs[i].what {
                        What::Note(n) => super::super::duplicate_checked(n),
                        _ => false,
                    })
                    .collect(),
            )?;
            let copy = evs[i].clone();
            evs.insert(i + 1, copy);
        }
        Mutation::Swap => {
            // Consecutive steps of one group, with nothing of that interaction between them.
            let mut pairs = Vec::new();
            for i in 0..evs.len() {
                if !is_note(&evs[i]) || evs[i].group.is_none() || evs[i].terminal {
                    continue;
                }
                let Some(j) = (i + 1..evs.len()).find(|&j| evs[j].ix == evs[i].ix) else {
                    continue;
                };
                if is_note(&evs[j]) && evs[j].group == evs[i].group && !evs[j].terminal {
                    pairs.push((i, j));
                }
            }
            let k = choose((0..pairs.len()).collect())?;
            let (i, j) = pairs[k];
            evs.swap(i, j);
        }
        Mutation::Reindex => {
            // Any log update but the first of its interaction goes back to index 0.
            let mut firsts = std::collections::HashSet::new();
            let mut cands = Vec::new();
            for (i, e) in evs.iter().enumerate() {
                if let What::Note(n) = &e.what
                    && matches!(n.as_ref(), Notification::MessageLogUpdated(_))
                    && !firsts.insert(e.ix)
                {
                    cands.push(i);
                }
            }
            let i = choose(cands)?;
            if let What::Note(n) = &mut evs[i].what
                && let Notification::MessageLogUpdated(log) = n.as_mut()
            {
                for m in &mut log.messages {
                    m.index = 0;
                }
            }
        }
        Mutation::Late => {
            let i = choose((0..evs.len()).filter(|&i| evs[i].late_detectable).collect())?;
            evs.insert(
                i,
                MEv {
                    ix: usize::MAX,
                    what: What::Op(Capability::SetInFocus, None),
                    required: false,
                    group: None,
                    terminal: false,
                    late_detectable: false,
                },
            );
            // Marks the wait; `check` turns this into a clock jump.
            evs[i].group = Some(u32::MAX);
        }
        Mutation::AfterEnd => {
            let i = choose((0..evs.len()).filter(|&i| evs[i].terminal).collect())?;
            let What::Note(n) = &evs[i].what else { return None };
            let id = crate::ordering::interaction_of(n)?.to_owned();
            let media = match n.as_ref() {
                Notification::FacebooksessionStateChangeMessage(_) => Media::Facebook,
                _ => Media::Chat,
            };
            let late = ml(media, &id, vec![entry(999, E::Text, &people().cust, All, Some("?"))]);
            let ix = evs[i].ix;
            evs.insert(
                i + 1,
                MEv {
                    ix,
                    what: What::Note(Box::new(late)),
                    required: false,
                    group: None,
                    terminal: false,
                    late_detectable: false,
                },
            );
        }
    }
    Some(evs)
}

fn check(evs: &[MEv], media: Media, profile: Profile) -> Vec<Violation> {
    let mut checker = AgentChecker::new("Ann", media, profile)
        .with_user_id("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        .with_timeout_ms(TIMEOUT_MS);
    let mut now = 0u64;
    let mut out = Vec::new();
    for (k, e) in evs.iter().enumerate() {
        now += 1 + (k as u64 * 7) % 19;
        match &e.what {
            What::Op(_, _) if e.group == Some(u32::MAX) => now += TIMEOUT_MS + 1_000,
            What::Op(op, target) => {
                let id = format!("IX{:02}", e.ix);
                checker.operation_started(now, &id, *op, target.clone(), ());
            }
            What::Note(n) | What::Global(n) => out.extend(checker.observe(now, n).violations),
        }
        out.extend(checker.poll_timeouts(now));
    }
    out.extend(checker.finish(now + 1));
    out
}

fn describe(v: &[Violation]) -> String {
    v.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("\n")
}

fn flows() -> impl Strategy<Value = Vec<Flow>> {
    proptest::collection::vec(proptest::sample::select(FLOWS.to_vec()), 1..=4)
}

fn media() -> impl Strategy<Value = Media> {
    prop_oneof![Just(Media::Chat), Just(Media::Facebook)]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    proptest::sample::select(vec![
        Mutation::Drop,
        Mutation::Duplicate,
        Mutation::Swap,
        Mutation::Reindex,
        Mutation::Late,
        Mutation::AfterEnd,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn valid_feeds_pass_both_profiles(flows in flows(), media in media(), seed in any::<u64>()) {
        let evs = feed(&flows, media, seed);
        for profile in [Profile::Strict, Profile::Documented] {
            let v = check(&evs, media, profile);
            prop_assert!(v.is_empty(), "{:?} {flows:?}:\n{}", profile, describe(&v));
        }
    }

    #[test]
    fn one_mutation_is_caught_with_its_kind(
        flows in flows(),
        media in media(),
        seed in any::<u64>(),
        m in mutation(),
        pick in any::<usize>(),
    ) {
        let evs = feed(&flows, media, seed);
        let Some(bad) = mutate(evs, m, pick) else { return Ok(()) };
        let v = check(&bad, media, Profile::Strict);
        let want = m.kind();
        prop_assert!(
            !v.is_empty() && v.iter().all(|v| v.kind == want),
            "{m:?} on {flows:?} should give only {want}:\n{}",
            describe(&v)
        );
    }
}

#[test]
fn every_flow_produces_a_clean_feed_alone() {
    for flow in FLOWS {
        for media in [Media::Chat, Media::Facebook] {
            let evs = feed(&[flow], media, 7);
            let v = check(&evs, media, Profile::Strict);
            assert!(v.is_empty(), "{flow:?}:\n{}", describe(&v));
        }
    }
}

// --- Customers ---------------------------------------------------------------------------------

/// A customer's transcript as the model server shows it: visible entries only, indices global
/// (so with gaps where agents-only entries were), visibility stripped (§15.19), split into polls.
fn customer_polls(len: usize, seed: u64) -> (Vec<Vec<LogEntry>>, Participant) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let p = people();
    let mut index = 0;
    let mut polls = vec![Vec::new()];
    for _ in 0..len {
        index += rng.random_range(1..=3);
        let from = if rng.random() { &p.cust } else { &p.me };
        let kind = [E::Text, E::TypingStarted, E::TypingStopped][rng.random_range(0..3)];
        let mut e = entry(index, kind, from, All, Some("m"));
        e.visibility = None;
        e.from.visibility = None;
        if let Some(last) = polls.last_mut() {
            last.push(e);
        }
        if rng.random_range(0..3) == 0 {
            polls.push(Vec::new());
        }
    }
    (polls, p.bob_agents)
}

fn check_customer(polls: &[Vec<LogEntry>]) -> Vec<Violation> {
    let mut checker = crate::ordering::CustomerChecker::new("Cust");
    checker.hide_participant("Bob");
    polls.iter().enumerate().flat_map(|(t, p)| checker.observe(t as u64, "c-1", p)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn customer_transcripts_and_their_mutations(
        len in 1usize..30,
        seed in any::<u64>(),
        m in 0u8..4,
        pick in any::<usize>(),
    ) {
        let (mut polls, consultant) = customer_polls(len, seed);
        prop_assert!(check_customer(&polls).is_empty());
        let flat: Vec<(usize, usize)> = polls
            .iter()
            .enumerate()
            .flat_map(|(p, es)| (0..es.len()).map(move |i| (p, i)))
            .collect();
        let (p, i) = flat[pick % flat.len()];
        let want = match m {
            0 => {
                // Delivered again in the next poll.
                let copy = polls[p][i].clone();
                polls.push(vec![copy]);
                K::Duplicate
            }
            1 => {
                // A consultant's entry reaches the customer.
                let mut leak = polls[p][i].clone();
                leak.from = consultant.clone();
                leak.from.visibility = None;
                leak.index += 1_000;
                polls.push(vec![leak]);
                K::VisibilityLeak
            }
            2 => {
                // An entry (not the first) goes back to index 0.
                if flat.len() < 2 {
                    return Ok(());
                }
                let (p, i) = flat[1 + pick % (flat.len() - 1)];
                polls[p][i].index = 0;
                K::IndexRegression
            }
            _ => {
                // A server that sends visibility along, with Agents.
                let mut leak = polls[p][i].clone();
                leak.visibility = Some(Agents);
                leak.index += 1_000;
                polls.push(vec![leak]);
                K::VisibilityLeak
            }
        };
        let v = check_customer(&polls);
        prop_assert!(
            !v.is_empty() && v.iter().all(|v| v.kind == want),
            "want only {want}:\n{}",
            describe(&v)
        );
    }
}
