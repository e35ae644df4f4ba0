//! Counts failed logins per account so that a password cannot be guessed at line speed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LoginThrottle {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginThrottle {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        LoginThrottle {
            max_failures,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `account` has used up its failed attempts for the current window.
    pub fn is_locked(&self, account: &str) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.get(account).is_some_and(|(count, since)| {
            *count >= self.max_failures && since.elapsed() < self.window
        })
    }

    pub fn record_failure(&self, account: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Forget expired windows so the map cannot grow without bound.
        if failures.len() > 10_000 {
            failures.retain(|_, (_, since)| since.elapsed() < self.window);
        }
        let entry = failures
            .entry(account.to_string())
            .or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    pub fn record_success(&self, account: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_and_success_resets() {
        let throttle = LoginThrottle::new(3, Duration::from_secs(60));
        for _ in 0..2 {
            throttle.record_failure("a@x");
        }
        assert!(!throttle.is_locked("a@x"));
        throttle.record_failure("a@x");
        assert!(throttle.is_locked("a@x"));
        assert!(!throttle.is_locked("b@x"));
        throttle.record_success("a@x");
        assert!(!throttle.is_locked("a@x"));
    }

    #[test]
    fn lock_expires_with_the_window() {
        let throttle = LoginThrottle::new(1, Duration::from_millis(0));
        throttle.record_failure("a@x");
        assert!(!throttle.is_locked("a@x"));
    }
}
