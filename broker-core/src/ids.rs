//! Generational slab keys (h2's habit): an id names a slot *and* the
//! generation that filled it, so a stale id for a reused slot finds nothing
//! instead of the wrong connection, queue or consumer.

use core::marker::PhantomData;

macro_rules! slab_id {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name { index: u32, generation: u32 }
        impl SlabId for $name {
            fn new(index: u32, generation: u32) -> Self { $name { index, generation } }
            fn index(self) -> u32 { self.index }
            fn generation(self) -> u32 { self.generation }
        }
        #[allow(dead_code)]
        impl $name {
            /// A stable number for logs and APIs (unique among live ids).
            pub fn as_u64(self) -> u64 { (self.generation as u64) << 32 | self.index as u64 }
            pub fn from_u64(v: u64) -> Self { $name { index: v as u32, generation: (v >> 32) as u32 } }
        }
    )*};
}

slab_id! {
    /// A client connection, as the driver knows it.
    ConnectionId;
    QueueId;
    ExchangeId;
    ConsumerId;
    MessageId;
}

pub trait SlabId: Copy {
    fn new(index: u32, generation: u32) -> Self;
    fn index(self) -> u32;
    fn generation(self) -> u32;
}

enum Slot<T> {
    Occupied { generation: u32, value: T },
    Vacant { generation: u32 },
}

/// A vector of slots with a free list, addressed by generational ids.
pub struct Slab<I, T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
    _id: PhantomData<I>,
}

impl<I: SlabId, T> Default for Slab<I, T> {
    fn default() -> Self {
        Slab { slots: Vec::new(), free: Vec::new(), len: 0, _id: PhantomData }
    }
}

impl<I: SlabId, T> Slab<I, T> {
    pub fn insert(&mut self, value: T) -> I {
        self.insert_with(|_| value)
    }

    /// Inserts a value built from its own id.
    pub fn insert_with(&mut self, make: impl FnOnce(I) -> T) -> I {
        self.len += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            let generation = match slot {
                // 31 bits, so a message id packs into a `MessageRef`.
                Slot::Vacant { generation } => generation.wrapping_add(1) & 0x7fff_ffff,
                Slot::Occupied { .. } => unreachable!("free list names an occupied slot"),
            };
            let id = I::new(index, generation);
            *slot = Slot::Occupied { generation, value: make(id) };
            id
        } else {
            let index = self.slots.len() as u32;
            let id = I::new(index, 0);
            self.slots.push(Slot::Occupied { generation: 0, value: make(id) });
            id
        }
    }

    pub fn get(&self, id: I) -> Option<&T> {
        match self.slots.get(id.index() as usize)? {
            Slot::Occupied { generation, value } if *generation == id.generation() => Some(value),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, id: I) -> Option<&mut T> {
        match self.slots.get_mut(id.index() as usize)? {
            Slot::Occupied { generation, value } if *generation == id.generation() => Some(value),
            _ => None,
        }
    }

    pub fn contains(&self, id: I) -> bool {
        self.get(id).is_some()
    }

    pub fn remove(&mut self, id: I) -> Option<T> {
        let slot = self.slots.get_mut(id.index() as usize)?;
        match slot {
            Slot::Occupied { generation, .. } if *generation == id.generation() => {
                let generation = *generation;
                let old = core::mem::replace(slot, Slot::Vacant { generation });
                self.free.push(id.index());
                self.len -= 1;
                match old {
                    Slot::Occupied { value, .. } => Some(value),
                    Slot::Vacant { .. } => None,
                }
            }
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn iter(&self) -> impl Iterator<Item = (I, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| match s {
            Slot::Occupied { generation, value } => Some((I::new(i as u32, *generation), value)),
            Slot::Vacant { .. } => None,
        })
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (I, &mut T)> {
        self.slots.iter_mut().enumerate().filter_map(|(i, s)| match s {
            Slot::Occupied { generation, value } => Some((I::new(i as u32, *generation), value)),
            Slot::Vacant { .. } => None,
        })
    }

    pub fn ids(&self) -> Vec<I> {
        self.iter().map(|(id, _)| id).collect()
    }
}

impl<I: SlabId, T> core::ops::Index<I> for Slab<I, T> {
    type Output = T;
    fn index(&self, id: I) -> &T {
        self.get(id).expect("stale slab id")
    }
}

impl<I: SlabId, T> core::ops::IndexMut<I> for Slab<I, T> {
    fn index_mut(&mut self, id: I) -> &mut T {
        self.get_mut(id).expect("stale slab id")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_ids_find_nothing_after_reuse() {
        let mut s: Slab<QueueId, &str> = Slab::default();
        let a = s.insert("a");
        assert_eq!(s.remove(a), Some("a"));
        let b = s.insert("b");
        assert_eq!(a.index(), b.index());
        assert_eq!(s.get(a), None);
        assert_eq!(s.get(b), Some(&"b"));
        assert_eq!(s.remove(a), None);
        assert_eq!(s.len(), 1);
    }
}
