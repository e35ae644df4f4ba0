//! Bounds on retained messages. The router keeps every retained message until it is
//! cleared; without a bound, one client publishing retained messages to ever new topics
//! would grow the appliance's memory without end. Each retained topic is counted against
//! the credential that last set it, and against the totals.

use std::collections::HashMap;
use std::sync::Mutex;

use super::session::Owner;
use crate::config::MqttConfig;

pub struct RetainedLimits {
    per_credential: usize,
    max_messages: usize,
    max_bytes: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Retained topic → (who set it, payload bytes).
    topics: HashMap<String, (Owner, usize)>,
    per_owner: HashMap<Owner, usize>,
    bytes: usize,
}

impl RetainedLimits {
    pub fn new(config: &MqttConfig) -> RetainedLimits {
        RetainedLimits {
            per_credential: config.max_retained_per_credential,
            max_messages: config.max_retained_messages,
            max_bytes: config.max_retained_bytes,
            state: Mutex::default(),
        }
    }

    /// Whether `owner` may retain `bytes` on `topic` (which replaces what the topic held;
    /// an empty payload clears it and is always allowed). Records it when allowed.
    pub fn admit(&self, topic: &str, bytes: usize, owner: Owner) -> bool {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let previous = state.topics.get(topic).copied();
        if bytes == 0 {
            if let Some((old_owner, old_bytes)) = previous {
                state.forget(topic, old_owner, old_bytes);
            }
            return true;
        }
        let (freed_messages, freed_bytes, freed_own) = match previous {
            Some((old_owner, old_bytes)) => (1, old_bytes, usize::from(old_owner == owner)),
            None => (0, 0, 0),
        };
        let own = state.per_owner.get(&owner).copied().unwrap_or(0);
        let fits = own - freed_own < self.per_credential
            && state.topics.len() - freed_messages < self.max_messages
            && state.bytes - freed_bytes + bytes <= self.max_bytes;
        if !fits {
            return false;
        }
        if let Some((old_owner, old_bytes)) = previous {
            state.forget(topic, old_owner, old_bytes);
        }
        state.topics.insert(topic.to_string(), (owner, bytes));
        *state.per_owner.entry(owner).or_default() += 1;
        state.bytes += bytes;
        true
    }
}

impl State {
    fn forget(&mut self, topic: &str, owner: Owner, bytes: usize) {
        self.topics.remove(topic);
        self.bytes -= bytes;
        if let Some(count) = self.per_owner.get_mut(&owner) {
            *count -= 1;
            if *count == 0 {
                self.per_owner.remove(&owner);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retained_messages_are_bounded_per_credential_and_in_all() {
        let config = MqttConfig {
            max_retained_per_credential: 2,
            max_retained_messages: 3,
            max_retained_bytes: 100,
            ..MqttConfig::default()
        };
        let limits = RetainedLimits::new(&config);
        assert!(limits.admit("a/1", 10, Some(1)));
        assert!(limits.admit("a/2", 10, Some(1)));
        assert!(!limits.admit("a/3", 10, Some(1)), "per credential");
        assert!(
            limits.admit("a/2", 20, Some(1)),
            "replacing a topic takes no new place"
        );
        assert!(
            limits.admit("a/1", 0, Some(1)),
            "clearing is always allowed"
        );
        assert!(
            limits.admit("a/3", 10, Some(1)),
            "a cleared topic frees its place"
        );
        assert!(limits.admit("b/1", 10, Some(2)));
        assert!(!limits.admit("b/2", 10, Some(2)), "in all");
        assert!(!limits.admit("a/2", 90, Some(1)), "bytes in all");
        assert!(limits.admit("a/2", 60, Some(1)));
    }
}
