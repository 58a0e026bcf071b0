//! In-memory accounting of what the log still needs: which messages are
//! live in which queues, and which segment files may be deleted.
//!
//! The same code runs while the store is open and while recovery replays
//! the log, so the rebuilt counts are exactly the ones the running store
//! had.
//!
//! # When a segment may go
//!
//! A segment holds messages and *tombstones* (Delivered, Ack, AckRange,
//! QueuePurged, QueueDeleted records). A segment `S` is deletable when
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
/// Bit of a packed queue reference: delivered, but no Delivered record
/// written yet (they are written at a clean close; after a crash every
/// message comes back redelivered anyway). Never written to disk.
pub const UNWRITTEN: u32 = 1 << 30;
/// The queue number in a packed reference.
pub const QID_MASK: u32 = UNWRITTEN - 1;
/// A slot with no live message (acked everywhere, or an id not here).
const EMPTY: u32 = QID_MASK;
/// A slot whose message is in several queues: see `Ledger::many`.
const MANY: u32 = QID_MASK - 1;

/// One message id's place in its segment: 12 octets per message, where a
/// hash map entry cost a hundred.
#[derive(Debug, Clone, Copy)]
struct Slot {
    offset: u32,
    len: u32,
    /// `qid | flags` for a message in one queue, or `EMPTY` or `MANY`.
    refs: u32,
}

const EMPTY_SLOT: Slot = Slot { offset: 0, len: 0, refs: EMPTY };

impl Slot {
    fn live(&self) -> bool {
        self.refs != EMPTY
    }
}

#[derive(Debug, Default)]
struct SegmentInfo {
    /// Messages in this segment still held by some queue.
    live: u64,
    /// The id of `slots[0]`: ids increase along the log, so a segment's
    /// messages are a dense run of ids.
    first_id: u64,
    slots: Vec<Slot>,
    /// Links from tombstones here to messages in older live segments.
    depends_on: FxHashMap<u64, u32>,
    depends_total: u64,
    /// The reverse: newer segments whose tombstones point here.
    needed_by: FxHashMap<u64, u32>,
}

#[derive(Debug, Default)]
pub struct Ledger {
    segments: BTreeMap<u64, SegmentInfo>,
    /// Each segment holding messages, by its first message id.
    by_first_id: BTreeMap<u64, u64>,
    /// Queue references of messages in more than one queue.
    many: FxHashMap<u64, Vec<u32>>,
    live: usize,
    /// Segments whose counts dropped; checked by `take_deletable`.
    candidates: Vec<u64>,
}

/// The packed references of a live slot.
fn refs_of<'a>(many: &'a FxHashMap<u64, Vec<u32>>, id: u64, slot: &'a Slot) -> &'a [u32] {
    match slot.refs {
        MANY => many.get(&id).map_or(&[], |v| v.as_slice()),
        _ => std::slice::from_ref(&slot.refs),
    }
}

/// Removes `qid` from a live slot; returns (removed, now empty).
fn remove_ref(many: &mut FxHashMap<u64, Vec<u32>>, id: u64, slot: &mut Slot, qid: u32) -> (bool, bool) {
    if slot.refs != MANY {
        let hit = slot.refs & QID_MASK == qid;
        if hit {
            slot.refs = EMPTY;
        }
        return (hit, hit);
    }
    let Some(v) = many.get_mut(&id) else { return (false, false) };
    let Some(i) = v.iter().position(|r| r & QID_MASK == qid) else { return (false, false) };
    v.swap_remove(i);
    if let [only] = v[..] {
        slot.refs = only;
        many.remove(&id);
    }
    (true, false)
}

fn find_ref<'a>(many: &'a mut FxHashMap<u64, Vec<u32>>, id: u64, slot: &'a mut Slot, qid: u32) -> Option<&'a mut u32> {
    match slot.refs {
        EMPTY => None,
        MANY => many.get_mut(&id)?.iter_mut().find(|r| **r & QID_MASK == qid),
        _ => (slot.refs & QID_MASK == qid).then_some(&mut slot.refs),
    }
}

impl Ledger {
    pub fn open_segment(&mut self, segment: u64) {
        self.segments.entry(segment).or_default();
    }

    /// The segment holding id `id`, if any.
    fn segment_of(&self, id: u64) -> Option<u64> {
        self.by_first_id.range(..=id).next_back().map(|(_, s)| *s)
    }

    fn slot(&self, id: u64) -> Option<(u64, &Slot)> {
        let segment = self.segment_of(id)?;
        let info = self.segments.get(&segment)?;
        info.slots.get((id - info.first_id) as usize).filter(|s| s.live()).map(|s| (segment, s))
    }

    /// Records a message held by `qids` (distinct, non-empty, below `MANY`).
    pub fn add_message(&mut self, id: u64, location: Location, qids: &[u32]) {
        debug_assert!(!qids.is_empty());
        let info = self.segments.entry(location.segment).or_default();
        if info.slots.is_empty() {
            info.first_id = id;
            self.by_first_id.insert(id, location.segment);
        }
        let Some(index) = id.checked_sub(info.first_id).map(|i| i as usize) else {
            // Ids increase along the log; a damaged one cannot be placed.
            return;
        };
        if index < info.slots.len() {
            // Ids are never reused; if a damaged log repeats one, keep the counts right.
            if std::mem::replace(&mut info.slots[index], EMPTY_SLOT).live() {
                info.live -= 1;
                self.live -= 1;
                self.many.remove(&id);
            }
        } else {
            info.slots.resize(index, EMPTY_SLOT);
            info.slots.push(EMPTY_SLOT);
        }
        let refs = match qids {
            [one] => *one,
            many => {
                self.many.insert(id, many.to_vec());
                MANY
            }
        };
        info.slots[index] = Slot { offset: location.offset, len: location.len, refs };
        info.live += 1;
        self.live += 1;
    }

    /// Where a live message is.
    pub fn location(&self, id: u64) -> Option<Location> {
        self.slot(id).map(|(segment, s)| Location { segment, offset: s.offset, len: s.len })
    }

    /// Whether `queue` holds message `id`, and if so whether it was delivered.
    pub fn delivered(&self, id: u64, qid: u32) -> Option<bool> {
        let (_, slot) = self.slot(id)?;
        refs_of(&self.many, id, slot).iter().find(|r| *r & QID_MASK == qid).map(|r| r & DELIVERED != 0)
    }

    /// Whether `queue` holds message `id` (regardless of delivery).
    pub fn holds(&self, id: u64, qid: u32) -> bool {
        self.delivered(id, qid).is_some()
    }

    /// Calls `f` with every live message in id order: its id, location and
    /// packed queue references.
    pub fn for_each_live(&self, mut f: impl FnMut(u64, Location, &[u32])) {
        for &segment in self.segments.keys() {
            self.for_each_live_in(segment, &mut f);
        }
    }

    /// As [`for_each_live`](Self::for_each_live), for one segment.
    pub fn for_each_live_in(&self, segment: u64, mut f: impl FnMut(u64, Location, &[u32])) {
        let Some(info) = self.segments.get(&segment) else { return };
        for (i, slot) in info.slots.iter().enumerate().filter(|(_, s)| s.live()) {
            let id = info.first_id + i as u64;
            f(id, Location { segment, offset: slot.offset, len: slot.len }, refs_of(&self.many, id, slot));
        }
    }

    pub fn live_count(&self) -> usize {
        self.live
    }

    pub fn segment_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.segments.keys().copied()
    }

    /// Applies `f` to the live slot of `id`, with the segment it is in.
    fn with_slot<R>(&mut self, id: u64, f: impl FnOnce(&mut FxHashMap<u64, Vec<u32>>, &mut Slot) -> R) -> Option<(u64, R)> {
        let segment = self.segment_of(id)?;
        let info = self.segments.get_mut(&segment)?;
        let slot = info.slots.get_mut((id - info.first_id) as usize).filter(|s| s.live())?;
        Some((segment, f(&mut self.many, slot)))
    }

    /// Sets the delivered flag of (`id`, `qid`) for a Delivered record in
    /// segment `at`. Returns false, changing nothing, if the queue does not
    /// hold the message or its flag is already on disk.
    pub fn mark_delivered(&mut self, at: u64, id: u64, qid: u32) -> bool {
        let flagged = self.with_slot(id, |many, slot| {
            let r = find_ref(many, id, slot, qid)?;
            if *r & DELIVERED != 0 && *r & UNWRITTEN == 0 {
                return None;
            }
            *r = (*r | DELIVERED) & !UNWRITTEN;
            Some(())
        });
        let Some((target, Some(()))) = flagged else { return false };
        self.link(at, target);
        true
    }

    /// Flags (`id`, `qid`) delivered in memory only; [`Self::unwritten_deliveries`]
    /// lists it until a Delivered record is written. Returns false if the
    /// queue does not hold the message or it is already flagged.
    pub fn flag_delivered(&mut self, id: u64, qid: u32) -> bool {
        let flagged = self.with_slot(id, |many, slot| {
            let r = find_ref(many, id, slot, qid)?;
            if *r & DELIVERED != 0 {
                return None;
            }
            *r |= DELIVERED | UNWRITTEN;
            Some(())
        });
        matches!(flagged, Some((_, Some(()))))
    }

    /// (id, qid) of every delivered flag not yet written, by id.
    pub fn unwritten_deliveries(&self) -> Vec<(u64, u32)> {
        let mut out = Vec::new();
        self.for_each_live(|id, _, refs| {
            out.extend(refs.iter().filter(|r| *r & UNWRITTEN != 0).map(|r| (id, r & QID_MASK)));
        });
        out
    }

    /// Removes `qid` from message `id` for a record in segment `at`.
    /// Returns false, changing nothing, if the queue does not hold it.
    pub fn ack(&mut self, at: u64, id: u64, qid: u32) -> bool {
        let Some((target, (removed, empty))) = self.with_slot(id, |many, slot| remove_ref(many, id, slot, qid)) else {
            return false;
        };
        if !removed {
            return false;
        }
        if empty {
            self.message_dropped(target);
        }
        self.link(at, target);
        true
    }

    /// Applies an `AckRange` record in segment `at`: `qid` is done with
    /// every message in `first..=last` it holds.
    pub fn ack_range(&mut self, at: u64, qid: u32, first: u64, last: u64) {
        // Writers keep ranges dense (short gaps only), so walking ids is cheap.
        for id in first..=last {
            self.ack(at, id, qid);
        }
    }

    /// Removes `qid` from every message, for a purge or delete record in
    /// segment `at`. Returns how many messages the queue held.
    pub fn purge(&mut self, at: u64, qid: u32) -> usize {
        let mut touched: Vec<(u64, u32)> = Vec::new();
        let mut emptied: Vec<u64> = Vec::new();
        let Ledger { segments, many, .. } = self;
        for (&segment, info) in segments.iter_mut() {
            let mut n = 0;
            for (i, slot) in info.slots.iter_mut().enumerate().filter(|(_, s)| s.live()) {
                let (removed, empty) = remove_ref(many, info.first_id + i as u64, slot, qid);
                n += removed as u32;
                if empty {
                    emptied.push(segment);
                }
            }
            if n > 0 {
                touched.push((segment, n));
            }
        }
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
        self.live -= 1;
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
        let Some(info) = self.segments.get(&segment) else { return Vec::new() };
        let slots = info.slots.iter().enumerate().filter(|(_, s)| s.live());
        slots
            .map(|(i, slot)| {
                let id = info.first_id + i as u64;
                (id, refs_of(&self.many, id, slot).iter().map(|r| r & !UNWRITTEN).collect())
            })
            .collect()
    }

    /// Applies a `SegmentState` record about `segment` written in `at`:
    /// only the listed messages stay live, with the listed references, and
    /// the record replaces every link into `segment`.
    pub fn apply_segment_state(&mut self, at: u64, segment: u64, live: impl IntoIterator<Item = (u64, Vec<u32>)>) {
        let Some(info) = self.segments.get_mut(&segment) else { return };
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
        let mut dropped = 0;
        let Ledger { segments, many, .. } = self;
        let info = segments.get_mut(&segment).expect("checked");
        for (i, slot) in info.slots.iter_mut().enumerate().filter(|(_, s)| s.live()) {
            let id = info.first_id + i as u64;
            // Flags not yet written stay; the record carries the rest.
            let unwritten: Vec<u32> = refs_of(many, id, slot).iter().filter(|r| *r & UNWRITTEN != 0).map(|r| r & QID_MASK).collect();
            many.remove(&id);
            match listed.remove(&id) {
                Some(mut refs) if !refs.is_empty() => {
                    for r in refs.iter_mut().filter(|r| unwritten.contains(&(**r & QID_MASK))) {
                        *r |= UNWRITTEN;
                    }
                    slot.refs = match refs[..] {
                        [one] => one,
                        _ => {
                            many.insert(id, refs);
                            MANY
                        }
                    };
                }
                _ => {
                    *slot = EMPTY_SLOT;
                    dropped += 1;
                }
            }
        }
        for _ in 0..dropped {
            self.message_dropped(segment);
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
            if !info.slots.is_empty() {
                self.by_first_id.remove(&info.first_id);
            }
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

    /// Live messages in `segment`, and the records elsewhere that depend on it.
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
