//! An indexed binary min-heap of Considered grid points keyed by their tentative value U.
//!
//! Each entry stores its key next to the point index so that sifting never touches the value
//! array; `pos[point]` gives the entry's slot, which makes decrease-key O(log n) (Dijkstra 1959;
//! the same structure as Sethian's fast marching heap).

/// Sentinel in `pos` for a point that is not in the heap.
const ABSENT: u32 = u32::MAX;

/// Indexed binary min-heap over points `0..capacity`.
#[derive(Clone, Debug)]
pub struct IndexedHeap {
    keys: Vec<f64>,
    items: Vec<u32>,
    pos: Vec<u32>,
}

impl IndexedHeap {
    /// An empty heap for point indices below `capacity`.
    pub fn new(capacity: usize) -> Self {
        IndexedHeap {
            keys: Vec::with_capacity(1024),
            items: Vec::with_capacity(1024),
            pos: vec![ABSENT; capacity],
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether `item` is in the heap.
    #[inline]
    pub fn contains(&self, item: usize) -> bool {
        self.pos[item] != ABSENT
    }

    /// Insert `item` with `key`, or lower its key if it is present and `key` is smaller.
    ///
    /// # Panics
    /// If `item >= capacity`.
    #[inline]
    pub fn push_or_decrease(&mut self, item: usize, key: f64) {
        let p = self.pos[item];
        if p == ABSENT {
            let slot = self.items.len();
            self.keys.push(key);
            self.items.push(item as u32);
            self.pos[item] = slot as u32;
            self.sift_up(slot);
        } else if key < self.keys[p as usize] {
            self.keys[p as usize] = key;
            self.sift_up(p as usize);
        }
    }

    /// Remove and return the entry with the smallest key, as (item, key).
    #[inline]
    pub fn pop(&mut self) -> Option<(usize, f64)> {
        let n = self.items.len();
        if n == 0 {
            return None;
        }
        let top = self.items[0] as usize;
        let key = self.keys[0];
        self.pos[top] = ABSENT;
        let last_item = self.items.pop().unwrap_or(0);
        let last_key = self.keys.pop().unwrap_or(0.0);
        if n > 1 {
            self.items[0] = last_item;
            self.keys[0] = last_key;
            self.pos[last_item as usize] = 0;
            self.sift_down(0);
        }
        Some((top, key))
    }

    #[inline]
    fn sift_up(&mut self, mut slot: usize) {
        let key = self.keys[slot];
        let item = self.items[slot];
        while slot > 0 {
            let parent = (slot - 1) / 2;
            if self.keys[parent] <= key {
                break;
            }
            self.keys[slot] = self.keys[parent];
            self.items[slot] = self.items[parent];
            self.pos[self.items[slot] as usize] = slot as u32;
            slot = parent;
        }
        self.keys[slot] = key;
        self.items[slot] = item;
        self.pos[item as usize] = slot as u32;
    }

    #[inline]
    fn sift_down(&mut self, mut slot: usize) {
        let n = self.items.len();
        let key = self.keys[slot];
        let item = self.items[slot];
        loop {
            let left = 2 * slot + 1;
            if left >= n {
                break;
            }
            let right = left + 1;
            let child = if right < n && self.keys[right] < self.keys[left] {
                right
            } else {
                left
            };
            if self.keys[child] >= key {
                break;
            }
            self.keys[slot] = self.keys[child];
            self.items[slot] = self.items[child];
            self.pos[self.items[slot] as usize] = slot as u32;
            slot = child;
        }
        self.keys[slot] = key;
        self.items[slot] = item;
        self.pos[item as usize] = slot as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_key_order_with_decrease_key() {
        // A fixed pseudo-random sequence (LCG) of keys, some lowered afterwards.
        let n = 500;
        let mut h = IndexedHeap::new(n);
        let mut state = 12345u64;
        let mut keys = vec![0.0; n];
        for (i, k) in keys.iter_mut().enumerate() {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *k = (state >> 11) as f64 / (1u64 << 53) as f64;
            h.push_or_decrease(i, *k);
        }
        for i in (0..n).step_by(3) {
            keys[i] *= 0.5;
            h.push_or_decrease(i, keys[i]);
            // A larger key must not raise it.
            h.push_or_decrease(i, keys[i] + 1.0);
        }
        let mut sorted = keys.clone();
        sorted.sort_by(f64::total_cmp);
        let mut got = Vec::new();
        while let Some((i, k)) = h.pop() {
            assert_eq!(k, keys[i]);
            assert!(!h.contains(i));
            got.push(k);
        }
        assert_eq!(got, sorted);
        assert!(h.is_empty());
    }
}
