//! Brakes on password guessing: a per-address rate limiter on login and the login lockout,
//! per account and address pair and per account, with backoff.
//!
//! Both are counted in the database (`store/logins.rs`), so every node of a site counts
//! against the same rows (`docs/cluster.md`) and a restart keeps a lockout. Every check
//! counts in the same statement: parallel attempts cannot all pass a check before any of
//! them is counted.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::store::logins::{LoginCheck, LoginLimits};
use crate::store::{Result, Store};

/// A lockout doubles with each one that follows while the key is remembered, up to this
/// many times its base duration; a key is remembered this many windows after it was last
/// counted or locked.
const MAX_BACKOFF: i64 = 16;

/// How often a node forgets expired counts (ms).
const SWEEP_EVERY_MS: i64 = 60_000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
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
    store: Store,
    per_minute: u32,
}

impl AddressRateLimiter {
    pub fn new(store: Store, per_minute: u32) -> Self {
        AddressRateLimiter { store, per_minute }
    }

    /// Counts one attempt from `addr` and says whether it may go ahead (`false`: refuse it).
    pub async fn check(&self, addr: IpAddr) -> Result<bool> {
        if self.per_minute == 0 {
            return Ok(true);
        }
        self.store
            .take_login_token(
                &address_key(addr).to_string(),
                now_ms(),
                i64::from(self.per_minute),
            )
            .await
    }
}

/// Failed logins: `max_failures` from one address against one account lock that pair (the
/// real user elsewhere keeps logging in); `max_account_failures` against one account from
/// any number of addresses lock the account. Locks last `window`, doubling with each
/// repeated lockout (at most 16 times); a successful login or an administrator's unlock
/// clears them.
pub struct LoginThrottle {
    store: Store,
    limits: LoginLimits,
    /// When this node last forgot expired counts (ms since the epoch).
    swept_at: AtomicI64,
}

/// A login attempt let through and counted as failed until [`LoginThrottle::succeeded`].
#[must_use]
pub struct LoginAttempt {
    account: String,
    address: String,
}

impl LoginThrottle {
    pub fn new(
        store: Store,
        max_failures: u32,
        max_account_failures: u32,
        window: Duration,
    ) -> Self {
        let max_failures = max_failures.max(1);
        LoginThrottle {
            store,
            limits: LoginLimits {
                max_failures: i64::from(max_failures),
                // One address alone must not lock the account for everybody.
                max_account_failures: i64::from(max_account_failures.max(max_failures)),
                window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX / 64),
            },
            swept_at: AtomicI64::new(0),
        }
    }

    /// Lets an attempt on `account` from `addr` go ahead and counts it as a failure, or
    /// refuses it (`None`) while the pair or the account is locked.
    pub async fn begin(&self, account: &str, addr: IpAddr) -> Result<Option<LoginAttempt>> {
        let now = now_ms();
        self.sweep(now).await;
        let address = address_key(addr).to_string();
        let check = self
            .store
            .count_login_attempt(account, &address, now, self.limits)
            .await?;
        Ok((check == LoginCheck::Counted).then(|| LoginAttempt {
            account: account.to_string(),
            address,
        }))
    }

    /// The attempt had the right password: its pair starts afresh and it no longer counts
    /// against the account.
    pub async fn succeeded(&self, attempt: LoginAttempt) -> Result<()> {
        self.store
            .login_succeeded(
                &attempt.account,
                &attempt.address,
                self.limits.max_account_failures,
            )
            .await
    }

    /// Clears every lock and count of `account` (an administrator's unlock).
    pub async fn unlock(&self, account: &str) -> Result<()> {
        self.store.unlock_login(account).await
    }

    /// Forgets, at most once a minute per node, the counts no check would look at again:
    /// past their window and their backoff memory, and buckets full again (a minute
    /// untouched), so that a flood of addresses or account names cannot grow the tables.
    async fn sweep(&self, now: i64) {
        let last = self.swept_at.load(Ordering::Relaxed);
        if now - last < SWEEP_EVERY_MS
            || self
                .swept_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let memory = self.limits.window_ms.saturating_mul(MAX_BACKOFF);
        if let Err(err) = self
            .store
            .forget_login_attempts(now.saturating_sub(memory), now - 60_000)
            .await
        {
            tracing::warn!(error = %err, "could not forget expired login attempts");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_keyed_ipv4_as_is_and_ipv6_by_its_64() {
        let v4 = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(address_key(v4), v4);
        let mapped = IpAddr::V6(std::net::Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        assert_eq!(address_key(mapped), v4);
        let v6 = |last: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, last));
        assert_eq!(
            address_key(v6(1)),
            address_key(v6(99)),
            "one /64 shares one key"
        );
        assert_eq!(address_key(v6(1)).to_string(), "2001:db8:1:2::");
    }
}
