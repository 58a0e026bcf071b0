//! The ready messages of a queue: one FIFO per priority level (a single
//! level for ordinary queues), with requeue back to the original position.

use std::collections::VecDeque;

use super::QueueEntry;

pub struct ReadyList {
    /// Index = priority; delivery takes from the highest non-empty level.
    levels: Vec<VecDeque<QueueEntry>>,
    len: usize,
    bytes: usize,
}

impl ReadyList {
    pub fn new(levels: usize) -> Self {
        ReadyList { levels: (0..levels.max(1)).map(|_| VecDeque::new()).collect(), len: 0, bytes: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Octets of the ready messages' bodies.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn level(&self, priority: u8) -> usize {
        (priority as usize).min(self.levels.len() - 1)
    }

    pub fn push(&mut self, entry: QueueEntry) {
        let l = self.level(entry.priority);
        self.len += 1;
        self.bytes += entry.size as usize;
        self.levels[l].push_back(entry);
    }

    /// The entry delivered next.
    pub fn front(&self) -> Option<&QueueEntry> {
        self.levels.iter().rev().find_map(|l| l.front())
    }

    pub fn pop(&mut self) -> Option<QueueEntry> {
        let e = self.levels.iter_mut().rev().find_map(|l| l.pop_front())?;
        self.len -= 1;
        self.bytes -= e.size as usize;
        Some(e)
    }

    /// Puts an entry back at its original position among its priority.
    pub fn requeue(&mut self, entry: QueueEntry) {
        let l = self.level(entry.priority);
        let level = &mut self.levels[l];
        // Usually it belongs at the very front (the oldest outstanding delivery).
        let pos = level.partition_point(|e| e.seq < entry.seq);
        level.insert(pos, entry);
        self.len += 1;
        self.bytes += entry.size as usize;
    }

    /// The ready entry with sequence number `seq`, if it is still here.
    /// Looked for from the back, where recent entries are (and in cache).
    pub fn find_mut(&mut self, seq: u64) -> Option<&mut QueueEntry> {
        // Each level is in `seq` order (pushes increase, requeues keep it).
        self.levels.iter_mut().find_map(|level| {
            let len = level.len();
            // Seqs are usually dense at the back: try the exact spot first.
            let back = level.back()?.seq.checked_sub(seq)?;
            if back < len as u64 {
                let i = len - 1 - back as usize;
                if level[i].seq == seq {
                    return level.get_mut(i);
                }
            }
            // Widen a window at the back until it starts at or before `seq`.
            let mut width = 1;
            while width < len && level[len - width].seq > seq {
                width *= 2;
            }
            let (mut lo, mut hi) = (len.saturating_sub(width), len);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if level[mid].seq < seq {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            let i = lo;
            level.get_mut(i).filter(|e| e.seq == seq)
        })
    }

    /// Removes every entry, oldest first within each priority, highest first.
    pub fn drain(&mut self) -> Vec<QueueEntry> {
        self.len = 0;
        self.bytes = 0;
        self.levels.iter_mut().rev().flat_map(|l| l.drain(..)).collect()
    }

    /// Every entry in delivery order, without removing them.
    pub fn iter(&self) -> impl Iterator<Item = &QueueEntry> {
        self.levels.iter().rev().flat_map(|l| l.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::MessageRef;

    fn e(seq: u64, priority: u8) -> QueueEntry {
        QueueEntry { message: MessageRef::in_store(seq), seq, expires_at: 0, size: 1, delivery_count: 0, priority, redelivered: false }
    }

    #[test]
    fn highest_priority_first_fifo_within() {
        let mut r = ReadyList::new(11);
        for (seq, p) in [(0, 1), (1, 5), (2, 0), (3, 5), (4, 10), (5, 0), (6, 1)] {
            r.push(e(seq, p));
        }
        let order: Vec<u64> = std::iter::from_fn(|| r.pop()).map(|x| x.seq).collect();
        assert_eq!(order, vec![4, 1, 3, 0, 6, 2, 5]);
        assert_eq!((r.len(), r.bytes()), (0, 0));
    }

    #[test]
    fn entries_are_found_by_seq_from_the_back() {
        let mut r = ReadyList::new(1);
        for s in (0..1000).map(|s| s * 2) {
            r.push(e(s, 0));
        }
        for _ in 0..10 {
            r.pop();
        }
        for seq in [20, 22, 1000, 1998] {
            assert_eq!(r.find_mut(seq).map(|x| x.seq), Some(seq));
        }
        for seq in [0, 18, 21, 1999, 5000] {
            assert!(r.find_mut(seq).is_none(), "{seq}");
        }
    }

    #[test]
    fn dense_seqs_are_found_at_their_spot_and_gaps_fall_back_to_search() {
        let mut r = ReadyList::new(1);
        for seq in 0..1000 {
            r.push(e(seq, 0));
        }
        for _ in 0..10 {
            r.pop();
        }
        for seq in [10, 11, 500, 999] {
            assert_eq!(r.find_mut(seq).map(|x| x.seq), Some(seq));
        }
        for seq in [0, 9, 1000] {
            assert!(r.find_mut(seq).is_none(), "{seq}");
        }
        // A gap in the middle: the spot guessed from the back is wrong for
        // older entries, which the search still finds.
        let mut r = ReadyList::new(1);
        for seq in (0..100).chain(200..300) {
            r.push(e(seq, 0));
        }
        for seq in [0, 50, 99, 200, 299] {
            assert_eq!(r.find_mut(seq).map(|x| x.seq), Some(seq));
        }
        for seq in [100, 150, 199, 300] {
            assert!(r.find_mut(seq).is_none(), "{seq}");
        }
    }

    #[test]
    fn requeue_restores_position() {
        let mut r = ReadyList::new(1);
        for s in 0..4 {
            r.push(e(s, 0));
        }
        let a = r.pop().unwrap();
        let _b = r.pop().unwrap();
        let c = r.pop().unwrap();
        r.requeue(c);
        r.requeue(a);
        assert_eq!(r.drain().iter().map(|x| x.seq).collect::<Vec<_>>(), vec![0, 2, 3]);
    }
}
