//! Remembering what was already taken: a bounded window of the most recent ids
//! (event ids, callback tokens of ended calls). The service delivers at least once;
//! a redelivery comes soon after the original, so a recent window is enough.

use std::collections::{HashSet, VecDeque};

/// The most recent ids of a kind, bounded.
#[derive(Debug, Default)]
pub struct Window {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl Window {
    /// Remembers `id`; `false` if it was already there.
    pub fn insert(&mut self, id: &str, capacity: usize) -> bool {
        if !self.set.insert(id.to_owned()) {
            return false;
        }
        self.order.push_back(id.to_owned());
        if self.order.len() > capacity
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }

    /// Whether `id` is in the window.
    #[must_use]
    pub fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }
}
