//! Brakes on password guessing: a per-address rate limiter (used by login; made to be
//! reused by MQTT CONNECT) and the login lockout, per account and address pair and per
//! account, with backoff.
//!
//! Every check counts in the same step, under one lock: parallel attempts cannot all pass
//! a check before any of them is counted.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Entries kept before the expired ones are swept out, so that a flood of addresses or
/// account names cannot grow the maps without bound.
const SWEEP_AT: usize = 10_000;

/// A lockout doubles with each one that follows while the entry is remembered, up to this
/// many times its base duration.
const MAX_BACKOFF: u32 = 16;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The key an address is limited under: IPv4 as is (also when mapped into IPv6), IPv6 by
/// its /64, which one host usually owns whole and could otherwise rotate through.
pub fn address_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// A token bucket per source address: up to `per_minute` attempts at once, refilled at
/// `per_minute` a minute. `0` turns the limit off.
pub struct AddressRateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl AddressRateLimiter {
    pub fn new(per_minute: u32) -> Self {
        AddressRateLimiter {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one attempt from `addr` and says whether it may go ahead (`false`: refuse it).
    pub fn check(&self, addr: IpAddr) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        let burst = f64::from(self.per_minute);
        let per_second = burst / 60.0;
        let now = Instant::now();
        let refilled =
            |tokens: f64, at: Instant| (tokens + (now - at).as_secs_f64() * per_second).min(burst);
        let mut buckets = lock(&self.buckets);
        if buckets.len() >= SWEEP_AT {
            buckets.retain(|_, (tokens, at)| refilled(*tokens, *at) < burst);
        }
        let (tokens, at) = buckets.entry(address_key(addr)).or_insert((burst, now));
        *tokens = refilled(*tokens, *at);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Failures counted against one key (an account and address pair, or an account).
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
    locked_until: Option<Instant>,
    /// Lockouts so far: each one lasts twice as long as the one before.
    lockouts: u32,
}

impl Failures {
    fn new(now: Instant) -> Self {
        Failures {
            count: 0,
            since: now,
            locked_until: None,
            lockouts: 0,
        }
    }

    /// Whether the key is locked at `now`; an expired lock or window starts a new count.
    fn locked(&mut self, now: Instant, window: Duration) -> bool {
        match self.locked_until {
            Some(until) if now < until => return true,
            Some(_) => {
                self.locked_until = None;
                self.count = 0;
                self.since = now;
            }
            None if now - self.since >= window => {
                self.count = 0;
                self.since = now;
            }
            None => {}
        }
        false
    }

    /// Counts one attempt; reaching `max` locks the key for the window, doubled per
    /// earlier lockout.
    fn count(&mut self, now: Instant, max: u32, window: Duration) {
        self.count += 1;
        if self.count >= max {
            let factor = 1u32 << self.lockouts.min(MAX_BACKOFF.trailing_zeros());
            self.locked_until = Some(now + window * factor);
            self.lockouts += 1;
        }
    }

    /// Worth keeping: locked, or within its window, or recently locked (its backoff).
    fn live(&self, now: Instant, window: Duration) -> bool {
        let memory = window * MAX_BACKOFF;
        self.locked_until.is_some_and(|until| now < until + memory) || now - self.since < window
    }
}

#[derive(Default)]
struct Accounts {
    pairs: HashMap<(String, IpAddr), Failures>,
    accounts: HashMap<String, Failures>,
}

/// Failed logins: `max_failures` from one address against one account lock that pair (the
/// real user elsewhere keeps logging in); `max_account_failures` against one account from
/// any number of addresses lock the account. Locks last `window`, doubling with each
/// repeated lockout (at most 16 times); a successful login or an administrator's unlock
/// clears them.
pub struct LoginThrottle {
    max_failures: u32,
    max_account_failures: u32,
    window: Duration,
    state: Mutex<Accounts>,
}

/// A login attempt let through and counted as failed until [`LoginThrottle::succeeded`].
#[must_use]
pub struct LoginAttempt {
    account: String,
    addr: IpAddr,
}

impl LoginThrottle {
    pub fn new(max_failures: u32, max_account_failures: u32, window: Duration) -> Self {
        LoginThrottle {
            max_failures: max_failures.max(1),
            // One address alone must not lock the account for everybody.
            max_account_failures: max_account_failures.max(max_failures).max(1),
            window,
            state: Mutex::new(Accounts::default()),
        }
    }

    /// Lets an attempt on `account` from `addr` go ahead and counts it as a failure, or
    /// refuses it (`None`) while the pair or the account is locked.
    pub fn begin(&self, account: &str, addr: IpAddr) -> Option<LoginAttempt> {
        let now = Instant::now();
        let addr = address_key(addr);
        let window = self.window;
        let mut state = lock(&self.state);
        if state.pairs.len() + state.accounts.len() >= SWEEP_AT {
            state.pairs.retain(|_, f| f.live(now, window));
            state.accounts.retain(|_, f| f.live(now, window));
        }
        let pair_key = (account.to_string(), addr);
        let pair_locked = state
            .pairs
            .get_mut(&pair_key)
            .is_some_and(|f| f.locked(now, window));
        let account_locked = state
            .accounts
            .get_mut(account)
            .is_some_and(|f| f.locked(now, window));
        if pair_locked || account_locked {
            return None;
        }
        state
            .pairs
            .entry(pair_key)
            .or_insert_with(|| Failures::new(now))
            .count(now, self.max_failures, window);
        state
            .accounts
            .entry(account.to_string())
            .or_insert_with(|| Failures::new(now))
            .count(now, self.max_account_failures, window);
        Some(LoginAttempt {
            account: account.to_string(),
            addr,
        })
    }

    /// The attempt had the right password: its pair starts afresh and it no longer counts
    /// against the account.
    pub fn succeeded(&self, attempt: LoginAttempt) {
        let mut state = lock(&self.state);
        state.pairs.remove(&(attempt.account.clone(), attempt.addr));
        if let Some(f) = state.accounts.get_mut(&attempt.account) {
            f.count = f.count.saturating_sub(1);
            if f.count < self.max_account_failures {
                f.locked_until = None;
            }
        }
    }

    /// Clears every lock and count of `account` (an administrator's unlock).
    pub fn unlock(&self, account: &str) {
        let mut state = lock(&self.state);
        state.pairs.retain(|(a, _), _| a != account);
        state.accounts.remove(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn a_pair_locks_after_max_failures_and_others_are_unaffected() {
        let throttle = LoginThrottle::new(3, 100, Duration::from_secs(60));
        for _ in 0..3 {
            let _failed = throttle.begin("a@x", A).expect("allowed");
        }
        assert!(throttle.begin("a@x", A).is_none(), "the pair is locked");
        let other = throttle
            .begin("a@x", B)
            .expect("another address still may try");
        throttle.succeeded(other);
        assert!(
            throttle.begin("b@x", A).is_some(),
            "another account from A may try"
        );
        throttle.unlock("a@x");
        assert!(throttle.begin("a@x", A).is_some(), "unlocked");
    }

    #[test]
    fn the_account_locks_after_failures_from_many_addresses() {
        let throttle = LoginThrottle::new(3, 4, Duration::from_secs(60));
        for i in 0..4u8 {
            let addr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, i));
            let _failed = throttle.begin("a@x", addr).expect("allowed");
        }
        assert!(throttle.begin("a@x", B).is_none(), "the account is locked");
        assert!(throttle.begin("b@x", B).is_some());
    }

    #[test]
    fn success_clears_the_pair() {
        let throttle = LoginThrottle::new(3, 100, Duration::from_secs(60));
        for _ in 0..2 {
            let _failed = throttle.begin("a@x", A).unwrap();
        }
        let ok = throttle.begin("a@x", A).unwrap();
        throttle.succeeded(ok);
        for _ in 0..3 {
            let _failed = throttle
                .begin("a@x", A)
                .expect("a fresh count after a success");
        }
    }

    #[test]
    fn locks_expire_and_come_back_longer() {
        let mut f = Failures::new(Instant::now());
        let window = Duration::from_secs(10);
        let start = Instant::now();
        f.count(start, 1, window);
        assert_eq!(f.locked_until, Some(start + window));
        assert!(f.locked(start, window));
        let later = start + window;
        assert!(!f.locked(later, window), "the lock expired");
        f.count(later, 1, window);
        assert_eq!(f.locked_until, Some(later + window * 2), "backoff doubles");
    }

    #[test]
    fn the_rate_limiter_counts_each_address_and_ipv6_by_its_64() {
        let limiter = AddressRateLimiter::new(3);
        assert!((0..3).all(|_| limiter.check(A)));
        assert!(!limiter.check(A));
        assert!(limiter.check(B));
        let v6 = |last: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, last));
        assert!((0..3).all(|i| limiter.check(v6(i))));
        assert!(!limiter.check(v6(99)), "one /64 shares one budget");
        assert!(AddressRateLimiter::new(0).check(A), "0 turns the limit off");
    }
}
