//! When each transaction next needs its timers run, in a min-heap, so a message or a timer costs
//! O(log n) in the transactions alive (thousands linger in their 32 s wait under load) instead
//! of a walk over all of them. Moved or cancelled deadlines stay in the heap as stale entries,
//! skipped when they come up; each key has at most one live deadline.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;
use std::time::Instant;

#[derive(Debug)]
pub struct Deadlines<K> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
    live: HashMap<K, Instant>,
}

impl<K: Ord + Hash + Clone> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines {
            heap: BinaryHeap::new(),
            live: HashMap::new(),
        }
    }
}

impl<K: Ord + Hash + Clone> Deadlines<K> {
    /// `key` next needs running at `at` (never, with `None`).
    pub fn set(&mut self, key: &K, at: Option<Instant>) {
        match at {
            Some(t) if self.live.get(key) == Some(&t) => {}
            Some(t) => {
                self.live.insert(key.clone(), t);
                self.heap.push(Reverse((t, key.clone())));
                self.compact();
            }
            None => {
                self.live.remove(key);
            }
        }
    }

    /// The earliest deadline (perhaps a stale one: waking early is harmless).
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// Keys whose deadline is `now` or past; they are no longer scheduled.
    pub fn due(&mut self, now: Instant) -> Vec<K> {
        let mut out = Vec::new();
        while let Some(Reverse((t, _))) = self.heap.peek() {
            if *t > now {
                break;
            }
            let Some(Reverse((t, key))) = self.heap.pop() else {
                break;
            };
            if self.live.get(&key) == Some(&t) {
                self.live.remove(&key);
                out.push(key);
            }
        }
        out
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Gives back the room of a burst that is over; says whether there was any.
    pub fn shrink_sparse(&mut self) -> bool {
        let live = crate::memory::shrink_sparse(&mut self.live);
        let heap = crate::memory::is_sparse(self.heap.len(), self.heap.capacity());
        if heap {
            self.heap.shrink_to(self.heap.len() * 2);
        }
        live || heap
    }

    /// Rebuilds the heap from the live deadlines when stale entries outnumber them, so memory
    /// follows the transactions alive, not how often their deadlines moved.
    fn compact(&mut self) {
        if self.heap.len() > 64 && self.heap.len() > 4 * self.live.len() {
            self.heap = self
                .live
                .iter()
                .map(|(k, t)| Reverse((*t, k.clone())))
                .collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn due_keys_come_in_time_order_and_moved_ones_only_once() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_millis(n);
        let mut d = Deadlines::default();
        d.set(&"b", Some(s(20)));
        d.set(&"a", Some(s(10)));
        d.set(&"c", Some(s(30)));
        d.set(&"a", Some(s(25))); // moved later: its old entry is stale
        d.set(&"c", None); // cancelled
        assert_eq!(d.next(), Some(s(10)));
        assert_eq!(d.due(s(15)), Vec::<&str>::new());
        assert_eq!(d.due(s(26)), vec!["b", "a"]);
        assert_eq!(d.due(s(100)), Vec::<&str>::new());
        assert!(d.is_empty());
    }

    #[test]
    fn the_heap_stays_near_the_live_count_however_often_deadlines_move() {
        let t0 = Instant::now();
        let mut d = Deadlines::default();
        for round in 0..1000u64 {
            for k in 0..10u32 {
                d.set(
                    &k,
                    Some(t0 + Duration::from_millis(round * 10 + u64::from(k))),
                );
            }
        }
        assert_eq!(d.len(), 10);
        // Compacted whenever stale entries pass 64 and four times the live ones.
        assert!(d.heap.len() <= 65, "{}", d.heap.len());
        assert_eq!(d.due(t0 + Duration::from_secs(100)).len(), 10);
    }
}
