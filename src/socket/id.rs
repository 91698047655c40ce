//! Socket ids and the shared slot table.
//!
//! A [`SocketId`] is a positive 31-bit integer (it fits a Lua integer and a C `int`).
//! Ids come from a global counter and map to a slot by `id % capacity`; the slot
//! remembers which id holds it. Because the counter only moves forward, an id is
//! reused only after 2³¹ allocations, so a stale id held by some service can never
//! reach a newer socket: every command checks that the slot's current id is its id.
//!
//! The table is shared between the socket thread and every caller. Callers reserve a
//! slot in their own thread (so `listen`/`connect` return an id at once) and read
//! whether a socket still accepts sends (so a send after close is refused at once);
//! everything else about a socket belongs to the socket thread alone.
//!
//! Each slot is one `AtomicU64` holding `(id << 32) | state`, so the id and its state
//! change together.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// The id of a socket, as services see it: positive and at most `i32::MAX`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(u32);

impl SocketId {
    /// Largest id handed out; the counter wraps back to 1 after it.
    pub const MAX: u32 = i32::MAX as u32;

    /// Wraps a raw id (as received from Lua or another service). Returns `None`
    /// for 0 and for values above [`SocketId::MAX`], which no socket ever has.
    pub fn from_raw(raw: u32) -> Option<SocketId> {
        (raw != 0 && raw <= Self::MAX).then_some(SocketId(raw))
    }

    /// The raw integer value.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Debug for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What callers may know about a slot without asking the socket thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum SlotState {
    /// Nobody holds the slot.
    Free = 0,
    /// Held by a live socket that accepts sends (including one still connecting).
    Live = 1,
    /// Held by a socket that refuses sends: closing, shut down, or failed to write.
    NoSend = 2,
}

impl SlotState {
    fn from_bits(bits: u32) -> SlotState {
        match bits {
            1 => SlotState::Live,
            2 => SlotState::NoSend,
            _ => SlotState::Free,
        }
    }
}

fn pack(id: u32, state: SlotState) -> u64 {
    (u64::from(id) << 32) | state as u64
}

fn unpack(word: u64) -> (u32, SlotState) {
    ((word >> 32) as u32, SlotState::from_bits(word as u32))
}

/// The table of socket slots shared by the socket thread and its callers.
pub(crate) struct SlotTable {
    slots: Box<[AtomicU64]>,
    next: AtomicU32,
    /// Slots taken, so a full table refuses at once instead of burning ids.
    taken: AtomicUsize,
}

impl SlotTable {
    /// A table of `capacity` slots (rounded up to a power of two, at least 2).
    pub(crate) fn new(capacity: usize) -> SlotTable {
        let capacity = capacity.clamp(2, 1 << 24).next_power_of_two();
        SlotTable {
            slots: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            next: AtomicU32::new(0),
            taken: AtomicUsize::new(0),
        }
    }

    /// Number of slots.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The slot index an id maps to.
    pub(crate) fn index(&self, id: SocketId) -> usize {
        id.0 as usize & (self.slots.len() - 1)
    }

    /// Reserves a fresh id and its slot in the calling thread. Returns `None` when
    /// every slot is taken.
    pub(crate) fn reserve(&self) -> Option<SocketId> {
        if self.taken.load(Ordering::Relaxed) >= self.slots.len() {
            return None;
        }
        for _ in 0..self.slots.len() {
            let raw = self.next.fetch_add(1, Ordering::Relaxed).wrapping_add(1) & SocketId::MAX;
            if raw == 0 {
                continue;
            }
            let id = SocketId(raw);
            let slot = &self.slots[self.index(id)];
            let current = slot.load(Ordering::Acquire);
            if unpack(current).1 != SlotState::Free {
                continue;
            }
            if slot
                .compare_exchange(
                    current,
                    pack(raw, SlotState::Live),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
            {
                self.taken.fetch_add(1, Ordering::Relaxed);
                return Some(id);
            }
        }
        None
    }

    /// The state of `id`'s slot as seen by callers: `Free` if the slot now belongs
    /// to another id.
    pub(crate) fn state(&self, id: SocketId) -> SlotState {
        let (held, state) = unpack(self.slots[self.index(id)].load(Ordering::Acquire));
        if held == id.0 {
            state
        } else {
            SlotState::Free
        }
    }

    /// Marks `id` as refusing sends, if it still holds its slot and was live.
    /// Returns whether this call made the change.
    pub(crate) fn stop_sending(&self, id: SocketId) -> bool {
        self.slots[self.index(id)]
            .compare_exchange(
                pack(id.0, SlotState::Live),
                pack(id.0, SlotState::NoSend),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Gives `id`'s slot back; a no-op if the slot holds another id.
    pub(crate) fn release(&self, id: SocketId) {
        let slot = &self.slots[self.index(id)];
        let current = slot.load(Ordering::Acquire);
        if unpack(current).0 == id.0 {
            // Only the socket thread releases, and only for ids it holds, so this
            // cannot race with another release of the same id; a concurrent
            // `stop_sending` changes only the state bits, which we overwrite anyway.
            slot.store(0, Ordering::Release);
            self.taken.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positive_and_fit_i32() {
        assert!(SocketId::from_raw(0).is_none());
        assert!(SocketId::from_raw(u32::MAX).is_none());
        assert_eq!(SocketId::from_raw(7).unwrap().get(), 7);
    }

    #[test]
    fn reserve_never_reuses_a_recent_id() {
        let table = SlotTable::new(4);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let id = table.reserve().unwrap();
            assert!(seen.insert(id), "id {id:?} handed out twice");
            table.release(id);
        }
    }

    #[test]
    fn full_table_refuses_reservation() {
        let table = SlotTable::new(2);
        let a = table.reserve().unwrap();
        let b = table.reserve().unwrap();
        assert_ne!(table.index(a), table.index(b));
        assert!(table.reserve().is_none());
        table.release(a);
        let c = table.reserve().unwrap();
        assert_eq!(table.index(c), table.index(a));
        assert_ne!(c, a);
    }

    #[test]
    fn stale_id_sees_a_free_slot() {
        let table = SlotTable::new(2);
        let a = table.reserve().unwrap();
        table.release(a);
        let _b = table.reserve().unwrap();
        let c = table.reserve().unwrap();
        // One of b/c took a's slot; a still reads as free and cannot be stopped.
        assert_eq!(table.state(a), SlotState::Free);
        assert!(!table.stop_sending(a));
        assert_eq!(table.state(c), SlotState::Live);
    }

    #[test]
    fn stop_sending_changes_only_live_ids() {
        let table = SlotTable::new(8);
        let a = table.reserve().unwrap();
        assert!(table.stop_sending(a));
        assert!(!table.stop_sending(a));
        assert_eq!(table.state(a), SlotState::NoSend);
        table.release(a);
        assert_eq!(table.state(a), SlotState::Free);
    }

    #[test]
    fn release_of_a_stale_id_leaves_the_new_owner_alone() {
        let table = SlotTable::new(2);
        let a = table.reserve().unwrap();
        table.release(a);
        let b = table.reserve().unwrap();
        let c = table.reserve().unwrap();
        let same = if table.index(b) == table.index(a) {
            b
        } else {
            c
        };
        table.release(a);
        assert_eq!(table.state(same), SlotState::Live);
    }
}
