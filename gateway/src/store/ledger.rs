//! In-memory accounting of what the log still needs: which messages are
//! live in which queues, and which segment files may be deleted.
//!
//! The same code runs while the store is open and while recovery replays
//! the log, so the rebuilt counts are exactly the ones the running store
//! had.
//!
//! # When a segment may go
//!
//! A segment holds messages and *tombstones* (Delivered, Ack, QueuePurged,
//! QueueDeleted records). A segment `S` is deletable when
//!
//! 1. none of its messages is still in a queue (`live == 0`), and
//! 2. none of its tombstones is still needed: a tombstone in `S` about a
//!    message in an older segment `T` must outlive `T`, or recovery would
//!    bring the acked message back. Each such tombstone is a *link*
//!    `S -> T`; `S` is pinned while it has links, and deleting `T`
//!    releases them.
//! 3. it is not the head (the segment being appended to).
//!
//! A tombstone about a message in its own segment needs no link: both go
//! together. Deletions come out in an order where every `T` precedes the
//! segments it pinned; the committer makes each unlink durable before the
//! next (see `committer`), so a crash never leaves `S` gone and `T` back.
//!
//! # Carrying state forward
//!
//! Links alone let one long-lived message pin a chain: its segment `T`
//! pins `S` (which acked T's other messages), `S` pins the segment that
//! acked S's messages, and so on. So when a sealed segment has no live
//! message but is pinned, the store writes a `SegmentState` record for each
//! segment `T` it points at (when `T` has few live messages): the whole
//! state of T's messages, which supersedes every earlier tombstone about
//! `T`. All links into `T` are released and the head gets one instead;
//! the pinned segments can go. A fully dead `T` costs a record of a few
//! bytes.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use super::Location;

/// Bit of a packed queue reference (in the ledger and in `SegmentState`
/// records) that records a Delivered record seen for it.
pub const DELIVERED: u32 = 1 << 31;

/// A message that at least one queue still holds.
#[derive(Debug)]
pub struct LiveMessage {
    pub location: Location,
    queues: QueueRefs,
}

impl LiveMessage {
    /// The queues still holding the message, with their delivered flags.
    pub fn queues(&self) -> impl Iterator<Item = (u32, bool)> + '_ {
        self.queues.as_slice().iter().map(|&r| (r & !DELIVERED, r & DELIVERED != 0))
    }
}

/// Queue references, packed as `qid | DELIVERED`. Most messages go to one
/// queue, which needs no allocation.
#[derive(Debug)]
enum QueueRefs {
    One(u32),
    Many(Vec<u32>),
}

impl QueueRefs {
    fn as_slice(&self) -> &[u32] {
        match self {
            QueueRefs::One(r) => std::slice::from_ref(r),
            QueueRefs::Many(v) => v,
        }
    }

    fn find(&mut self, qid: u32) -> Option<&mut u32> {
        match self {
            QueueRefs::One(r) => (*r & !DELIVERED == qid).then_some(r),
            QueueRefs::Many(v) => v.iter_mut().find(|r| **r & !DELIVERED == qid),
        }
    }

    /// Removes `qid`; returns (removed, now empty).
    fn remove(&mut self, qid: u32) -> (bool, bool) {
        match self {
            QueueRefs::One(r) => {
                let hit = *r & !DELIVERED == qid;
                (hit, hit)
            }
            QueueRefs::Many(v) => {
                let Some(i) = v.iter().position(|r| r & !DELIVERED == qid) else { return (false, false) };
                v.swap_remove(i);
                if let [only] = v[..] {
                    *self = QueueRefs::One(only);
                }
                (true, false)
            }
        }
    }
}

#[derive(Debug, Default)]
struct SegmentInfo {
    /// Messages in this segment still held by some queue.
    live: u64,
    /// Lowest and highest message id written here (ids increase along the
    /// log, so the segment's messages are exactly the ids in between).
    ids: Option<(u64, u64)>,
    /// Links from tombstones here to messages in older live segments.
    depends_on: FxHashMap<u64, u32>,
    depends_total: u64,
    /// The reverse: newer segments whose tombstones point here.
    needed_by: FxHashMap<u64, u32>,
}

#[derive(Debug, Default)]
pub struct Ledger {
    messages: FxHashMap<u64, LiveMessage>,
    segments: BTreeMap<u64, SegmentInfo>,
    /// Segments whose counts dropped; checked by `take_deletable`.
    candidates: Vec<u64>,
}

impl Ledger {
    pub fn open_segment(&mut self, segment: u64) {
        self.segments.entry(segment).or_default();
    }

    /// Records a message held by `qids` (distinct, non-empty).
    pub fn add_message(&mut self, id: u64, location: Location, qids: &[u32]) {
        debug_assert!(!qids.is_empty());
        let queues = match qids {
            [one] => QueueRefs::One(*one),
            many => QueueRefs::Many(many.to_vec()),
        };
        let segment = self.segments.entry(location.segment).or_default();
        segment.live += 1;
        segment.ids = Some(segment.ids.map_or((id, id), |(lo, hi)| (lo.min(id), hi.max(id))));
        if let Some(old) = self.messages.insert(id, LiveMessage { location, queues }) {
            // Ids are never reused; if a damaged log repeats one, keep the counts right.
            self.message_dropped(old.location.segment);
        }
    }

    pub fn message(&self, id: u64) -> Option<&LiveMessage> {
        self.messages.get(&id)
    }

    /// Whether `queue` holds message `id` (regardless of delivery).
    pub fn holds(&self, id: u64, qid: u32) -> bool {
        self.messages.get(&id).is_some_and(|m| m.queues.as_slice().iter().any(|r| r & !DELIVERED == qid))
    }

    pub fn live_messages(&self) -> impl Iterator<Item = (u64, &LiveMessage)> {
        self.messages.iter().map(|(id, m)| (*id, m))
    }

    pub fn live_count(&self) -> usize {
        self.messages.len()
    }

    pub fn segment_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.segments.keys().copied()
    }

    /// Sets the delivered flag of (`id`, `qid`) for a record in segment
    /// `at`. Returns false, changing nothing, if the queue does not hold
    /// the message or it is already flagged.
    pub fn mark_delivered(&mut self, at: u64, id: u64, qid: u32) -> bool {
        let Some(m) = self.messages.get_mut(&id) else { return false };
        let Some(r) = m.queues.find(qid) else { return false };
        if *r & DELIVERED != 0 {
            return false;
        }
        *r |= DELIVERED;
        let target = m.location.segment;
        self.link(at, target);
        true
    }

    /// Removes `qid` from message `id` for a record in segment `at`.
    /// Returns false, changing nothing, if the queue does not hold it.
    pub fn ack(&mut self, at: u64, id: u64, qid: u32) -> bool {
        let Some(m) = self.messages.get_mut(&id) else { return false };
        let (removed, empty) = m.queues.remove(qid);
        if !removed {
            return false;
        }
        let target = m.location.segment;
        if empty {
            self.messages.remove(&id);
            self.message_dropped(target);
        }
        self.link(at, target);
        true
    }

    /// Removes `qid` from every message, for a purge or delete record in
    /// segment `at`. Returns how many messages the queue held.
    pub fn purge(&mut self, at: u64, qid: u32) -> usize {
        let mut touched: FxHashMap<u64, u32> = FxHashMap::default();
        let mut emptied: Vec<u64> = Vec::new();
        self.messages.retain(|_, m| {
            let (removed, empty) = m.queues.remove(qid);
            if removed {
                *touched.entry(m.location.segment).or_default() += 1;
                if empty {
                    emptied.push(m.location.segment);
                }
            }
            !empty
        });
        for segment in emptied {
            self.message_dropped(segment);
        }
        let mut count = 0;
        for (target, n) in touched {
            count += n as usize;
            // One link per segment is enough: the record is needed exactly
            // as long as any of those segments exists.
            self.link(at, target);
        }
        count
    }

    fn message_dropped(&mut self, segment: u64) {
        if let Some(s) = self.segments.get_mut(&segment) {
            s.live -= 1;
            if s.live == 0 {
                self.candidates.push(segment);
            }
        }
    }

    /// A tombstone in `from` about a message in `to` pins `from` until `to`
    /// is deleted.
    fn link(&mut self, from: u64, to: u64) {
        if from == to || !self.segments.contains_key(&to) {
            return;
        }
        let source = self.segments.entry(from).or_default();
        *source.depends_on.entry(to).or_default() += 1;
        source.depends_total += 1;
        *self.segments.get_mut(&to).expect("checked").needed_by.entry(from).or_default() += 1;
    }

    /// Segments worth a `SegmentState` record: those that pin a sealed
    /// segment with no live message, and hold at most `max_live` live
    /// messages themselves.
    pub fn carry_forward_targets(&self, head: Option<u64>, max_live: u64) -> Vec<u64> {
        let mut targets: Vec<u64> = self
            .segments
            .iter()
            .filter(|(id, s)| Some(**id) != head && s.live == 0 && s.depends_total > 0)
            .flat_map(|(_, s)| s.depends_on.keys().copied())
            .filter(|t| self.segments.get(t).is_some_and(|t| t.live <= max_live))
            .collect();
        targets.sort_unstable();
        targets.dedup();
        targets
    }

    /// The state of `segment`'s live messages, as a `SegmentState` record
    /// lists it: (id, packed queue references), by id.
    pub fn segment_state(&self, segment: u64) -> Vec<(u64, Vec<u32>)> {
        let Some((lo, hi)) = self.segments.get(&segment).and_then(|s| s.ids) else { return Vec::new() };
        (lo..=hi)
            .filter_map(|id| self.messages.get(&id).filter(|m| m.location.segment == segment).map(|m| (id, m)))
            .map(|(id, m)| (id, m.queues.as_slice().to_vec()))
            .collect()
    }

    /// Applies a `SegmentState` record about `segment` written in `at`:
    /// only the listed messages stay live, with the listed references, and
    /// the record replaces every link into `segment`.
    pub fn apply_segment_state(&mut self, at: u64, segment: u64, live: impl IntoIterator<Item = (u64, Vec<u32>)>) {
        let Some(info) = self.segments.get_mut(&segment) else { return };
        let ids = info.ids;
        let needed_by = std::mem::take(&mut info.needed_by);
        for (dependent, n) in needed_by {
            let Some(d) = self.segments.get_mut(&dependent) else { continue };
            d.depends_on.remove(&segment);
            d.depends_total -= n as u64;
            if d.depends_total == 0 {
                self.candidates.push(dependent);
            }
        }
        let mut listed: FxHashMap<u64, Vec<u32>> = live.into_iter().collect();
        if let Some((lo, hi)) = ids {
            for id in lo..=hi {
                let Some(m) = self.messages.get_mut(&id).filter(|m| m.location.segment == segment) else { continue };
                match listed.remove(&id) {
                    Some(refs) if !refs.is_empty() => {
                        m.queues = match refs[..] {
                            [one] => QueueRefs::One(one),
                            _ => QueueRefs::Many(refs),
                        }
                    }
                    _ => {
                        self.messages.remove(&id);
                        self.message_dropped(segment);
                    }
                }
            }
        }
        self.link(at, segment);
    }

    /// Asks `take_deletable` to look at `segment` (e.g. when it stops
    /// being the head).
    pub fn consider(&mut self, segment: u64) {
        self.candidates.push(segment);
    }

    pub fn consider_all(&mut self) {
        self.candidates.extend(self.segments.keys().copied());
    }

    /// Removes and returns every deletable segment except `head`, each
    /// after the segments that pinned it.
    pub fn take_deletable(&mut self, head: Option<u64>) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some(id) = self.candidates.pop() {
            let ready = self.segments.get(&id).is_some_and(|s| s.live == 0 && s.depends_total == 0);
            if !ready || Some(id) == head {
                continue;
            }
            let info = self.segments.remove(&id).expect("present");
            for (dependent, n) in info.needed_by {
                let Some(d) = self.segments.get_mut(&dependent) else { continue };
                d.depends_on.remove(&id);
                d.depends_total -= n as u64;
                if d.depends_total == 0 {
                    self.candidates.push(dependent);
                }
            }
            out.push(id);
        }
        out
    }

    #[cfg(test)]
    pub fn counts(&self, segment: u64) -> Option<(u64, u64)> {
        self.segments.get(&segment).map(|s| (s.live, s.depends_total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(segment: u64) -> Location {
        Location { segment, offset: 0, len: 0 }
    }

    #[test]
    fn a_message_in_three_queues_lives_until_each_has_acked() {
        let mut l = Ledger::default();
        l.open_segment(1);
        l.add_message(1, loc(1), &[1, 2, 3]);
        assert!(l.ack(1, 1, 2));
        assert!(!l.ack(1, 1, 2), "a second ack by the same queue changes nothing");
        assert!(l.ack(1, 1, 1));
        assert_eq!(l.take_deletable(Some(2)), Vec::<u64>::new());
        assert!(l.ack(1, 1, 3));
        assert_eq!(l.live_count(), 0);
        assert_eq!(l.take_deletable(Some(1)), Vec::<u64>::new(), "the head stays");
        l.consider(1);
        assert_eq!(l.take_deletable(Some(2)), vec![1]);
    }

    #[test]
    fn tombstones_pin_their_segment_until_the_message_segment_goes() {
        let mut l = Ledger::default();
        for s in 1..=3 {
            l.open_segment(s);
        }
        l.add_message(10, loc(1), &[1]);
        l.add_message(11, loc(1), &[1]);
        l.add_message(20, loc(2), &[1]);
        assert!(l.mark_delivered(2, 10, 1));
        assert!(!l.mark_delivered(2, 10, 1), "already flagged");
        assert!(l.ack(2, 10, 1)); // segment 2 now points at segment 1 twice
        assert!(l.ack(3, 20, 1)); // segment 2 has no live message, but is pinned
        assert_eq!(l.counts(2), Some((0, 2)));
        assert_eq!(l.take_deletable(Some(3)), Vec::<u64>::new());
        assert!(l.ack(3, 11, 1));
        // Segment 1 goes first, which releases segment 2.
        assert_eq!(l.take_deletable(Some(3)), vec![1, 2]);
    }

    #[test]
    fn a_segment_state_record_releases_the_segments_pinned_by_tombstones() {
        let mut l = Ledger::default();
        for s in 1..=4 {
            l.open_segment(s);
        }
        l.add_message(1, loc(1), &[1]); // stays live
        l.add_message(2, loc(1), &[1, 2]);
        l.add_message(3, loc(1), &[1]);
        assert!(l.mark_delivered(2, 1, 1));
        assert!(l.ack(2, 2, 2));
        assert!(l.ack(2, 3, 1));
        l.consider(2);
        assert_eq!(l.take_deletable(Some(4)), Vec::<u64>::new(), "segment 2 is pinned by segment 1");
        assert_eq!(l.carry_forward_targets(Some(4), 10), vec![1]);
        assert_eq!(l.carry_forward_targets(Some(4), 1), Vec::<u64>::new(), "segment 1 has two live messages");
        let state = l.segment_state(1);
        assert_eq!(state, vec![(1, vec![1 | DELIVERED]), (2, vec![1])]);
        l.apply_segment_state(4, 1, state);
        assert_eq!(l.take_deletable(Some(4)), vec![2]);
        assert_eq!(l.segment_state(1).len(), 2);

        // Replayed without segment 2, the record alone restores the state.
        let mut r = Ledger::default();
        r.open_segment(1);
        r.open_segment(4);
        r.add_message(1, loc(1), &[1]);
        r.add_message(2, loc(1), &[1, 2]);
        r.add_message(3, loc(1), &[1]);
        r.apply_segment_state(4, 1, l.segment_state(1));
        assert_eq!(r.segment_state(1), l.segment_state(1));
        assert_eq!(r.live_count(), 2);
    }

    #[test]
    fn purge_removes_the_queue_everywhere_and_links_once_per_segment() {
        let mut l = Ledger::default();
        l.open_segment(1);
        l.open_segment(2);
        l.add_message(1, loc(1), &[1, 2]);
        l.add_message(2, loc(1), &[1]);
        l.add_message(3, loc(2), &[1]);
        assert_eq!(l.purge(2, 1), 3);
        assert!(l.holds(1, 2));
        assert!(!l.holds(1, 1));
        assert_eq!(l.live_count(), 1);
        assert_eq!(l.counts(2), Some((0, 1)));
        assert!(l.ack(2, 1, 2));
        assert_eq!(l.take_deletable(Some(3)), vec![1, 2]);
    }
}
