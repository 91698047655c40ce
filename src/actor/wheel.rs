//! A hierarchical timing wheel with centisecond ticks, as skynet's timer uses.
//!
//! Plain data, no clock: the timer thread calls [`Wheel::advance`] once per elapsed
//! tick and gets back what expired. A timeout of `t` ticks added at tick `now`
//! fires when the wheel reaches `now + t` (a timeout of 0 fires on the next
//! advance). Timeouts that fire on the same tick come out in the order they were
//! added.
//!
//! Layout: a near wheel of 256 slots for the next 256 ticks, then four levels of
//! 64 slots, each covering 64 times the span of the one below. An entry sits in
//! the lowest level whose span still holds its expiry; when the near wheel wraps,
//! the next slot of the level above is cascaded down. Adding and expiring are O(1)
//! per entry and per cascade step.

const NEAR_BITS: u32 = 8;
const NEAR: usize = 1 << NEAR_BITS;
const LEVEL_BITS: u32 = 6;
const LEVEL: usize = 1 << LEVEL_BITS;
const LEVELS: usize = 4;

/// The wheel. `T` is what a timeout carries (in the runtime: a service and a
/// session).
pub(crate) struct Wheel<T> {
    near: Vec<Vec<(u32, T)>>,
    levels: Vec<Vec<Vec<(u32, T)>>>,
    /// The current tick (wraps at 2³²; spans are computed on the difference).
    now: u32,
    len: usize,
}

impl<T> Default for Wheel<T> {
    fn default() -> Self {
        Wheel::new()
    }
}

impl<T> Wheel<T> {
    /// An empty wheel at tick 0.
    pub(crate) fn new() -> Wheel<T> {
        Wheel {
            near: (0..NEAR).map(|_| Vec::new()).collect(),
            levels: (0..LEVELS)
                .map(|_| (0..LEVEL).map(|_| Vec::new()).collect())
                .collect(),
            now: 0,
            len: 0,
        }
    }

    /// The current tick.
    pub(crate) fn now(&self) -> u32 {
        self.now
    }

    /// How many timeouts are pending.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Adds a timeout that fires `ticks` ticks from now.
    pub(crate) fn add(&mut self, ticks: u32, item: T) {
        let expire = self.now.wrapping_add(ticks.max(1));
        self.len += 1;
        self.place(expire, item);
    }

    fn place(&mut self, expire: u32, item: T) {
        let now = self.now;
        // Same near window: the high bits agree.
        if (expire | (NEAR as u32 - 1)) == (now | (NEAR as u32 - 1)) {
            self.near[(expire as usize) & (NEAR - 1)].push((expire, item));
            return;
        }
        let mut mask = (NEAR as u32) << LEVEL_BITS;
        for level in 0..LEVELS {
            if level == LEVELS - 1 || (expire | (mask - 1)) == (now | (mask - 1)) {
                let shift = NEAR_BITS + LEVEL_BITS * level as u32;
                let slot = ((expire >> shift) as usize) & (LEVEL - 1);
                self.levels[level][slot].push((expire, item));
                return;
            }
            mask <<= LEVEL_BITS;
        }
    }

    /// Moves one tick forward and appends what expires at the new tick to `out`.
    pub(crate) fn advance(&mut self, out: &mut Vec<T>) {
        self.now = self.now.wrapping_add(1);
        let now = self.now;
        if now & (NEAR as u32 - 1) == 0 {
            self.cascade();
        }
        let slot = std::mem::take(&mut self.near[(now as usize) & (NEAR - 1)]);
        self.len -= slot.len();
        out.extend(slot.into_iter().map(|(_, item)| item));
    }

    /// The near wheel wrapped: bring the next slot of the first level whose slot
    /// index moved down into the levels below.
    fn cascade(&mut self) {
        let now = self.now;
        let mut shift = NEAR_BITS;
        for level in 0..LEVELS {
            let slot = ((now >> shift) as usize) & (LEVEL - 1);
            let entries = std::mem::take(&mut self.levels[level][slot]);
            for (expire, item) in entries {
                self.place(expire, item);
            }
            if slot != 0 {
                break;
            }
            shift += LEVEL_BITS;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_until_empty(wheel: &mut Wheel<u32>, max_ticks: u64) -> Vec<(u64, u32)> {
        let mut fired = Vec::new();
        let mut out = Vec::new();
        for tick in 1..=max_ticks {
            wheel.advance(&mut out);
            fired.extend(out.drain(..).map(|v| (tick, v)));
            if wheel.len() == 0 {
                break;
            }
        }
        fired
    }

    #[test]
    fn fires_at_the_right_tick() {
        for ticks in [
            0u32,
            1,
            2,
            255,
            256,
            257,
            1000,
            16_383,
            16_384,
            70_000,
            1 << 20,
        ] {
            let mut wheel = Wheel::new();
            wheel.add(ticks, ticks);
            let fired = run_until_empty(&mut wheel, u64::from(ticks) + 10);
            assert_eq!(
                fired,
                vec![(u64::from(ticks.max(1)), ticks)],
                "timeout {ticks}"
            );
        }
    }

    #[test]
    fn same_tick_keeps_insertion_order() {
        let mut wheel = Wheel::new();
        for i in 0..10 {
            wheel.add(300, i);
        }
        let fired: Vec<u32> = run_until_empty(&mut wheel, 400)
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        assert_eq!(fired, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn many_timeouts_fire_in_expiry_order_from_a_moving_start() {
        let mut wheel = Wheel::new();
        let mut out = Vec::new();
        // Start mid-way so cascades happen at odd offsets.
        for _ in 0..12_345 {
            wheel.advance(&mut out);
        }
        let delays: Vec<u32> = (0..2000u32).map(|i| (i * 7919) % 40_000 + 1).collect();
        for (i, d) in delays.iter().enumerate() {
            wheel.add(*d, i as u32);
        }
        let fired = run_until_empty(&mut wheel, 50_000);
        assert_eq!(fired.len(), delays.len());
        for (tick, i) in fired {
            assert_eq!(tick, u64::from(delays[i as usize]), "timeout #{i}");
        }
    }

    #[test]
    fn wraps_around_the_u32_tick_counter() {
        let mut wheel: Wheel<u32> = Wheel::new();
        wheel.now = u32::MAX - 100;
        wheel.add(300, 1);
        let fired = run_until_empty(&mut wheel, 400);
        assert_eq!(fired, vec![(300, 1)]);
    }
}
