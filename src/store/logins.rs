//! Login throttles and lockouts (the policy is `auth/throttle.rs`). Each attempt is counted
//! by one upsert that also checks, so parallel attempts, on this node or another, cannot all
//! pass a check before any of them is counted. Times are milliseconds since the Unix epoch,
//! passed in by the caller: arithmetic on them reads the same in both engines.

use super::{Result, Store, on_pool};

/// Restarts a key's count: its lock expired, or its window passed. Only evaluated for a key
/// that is not locked (the upsert's `WHERE`).
macro_rules! restarts {
    () => {
        "(login_failures.locked_until_ms <> 0 OR $3 - login_failures.since_ms >= $4)"
    };
}

/// The key's failures with this attempt counted.
macro_rules! failures {
    () => {
        concat!(
            "(CASE WHEN ",
            restarts!(),
            " THEN 1 ELSE login_failures.failures + 1 END)"
        )
    };
}

/// Counts one failure against (`$1` account, `$2` address) at `$3`, window `$4` ms, lock at
/// `$5` failures: reaching it locks the key for the window, doubled per earlier lockout (at
/// most 16 times). A locked key is left as it is and no row comes back.
const COUNT_FAILURE: &str = concat!(
    "INSERT INTO login_failures (account, address, failures, since_ms, locked_until_ms, lockouts) \
     VALUES ($1, $2, 1, $3, CASE WHEN $5 <= 1 THEN $3 + $4 ELSE 0 END, CASE WHEN $5 <= 1 THEN 1 ELSE 0 END) \
     ON CONFLICT (account, address) DO UPDATE SET failures = ",
    failures!(),
    ", since_ms = CASE WHEN ",
    restarts!(),
    " THEN $3 ELSE login_failures.since_ms END, locked_until_ms = CASE WHEN ",
    failures!(),
    " >= $5 THEN $3 + $4 * (CASE login_failures.lockouts WHEN 0 THEN 1 WHEN 1 THEN 2 \
     WHEN 2 THEN 4 WHEN 3 THEN 8 ELSE 16 END) ELSE 0 END, lockouts = login_failures.lockouts + CASE WHEN ",
    failures!(),
    " >= $5 THEN 1 ELSE 0 END \
     WHERE login_failures.locked_until_ms <= $3 RETURNING failures"
);

/// The bucket of (`$1` address) refilled up to `$2` (the burst) at `$4` per ms until `$3`.
macro_rules! refilled {
    () => {
        "(CASE WHEN login_rate_limits.tokens + (CASE WHEN $3 > login_rate_limits.at_ms \
         THEN $3 - login_rate_limits.at_ms ELSE 0 END) * $4 >= $2 THEN $2 \
         ELSE login_rate_limits.tokens + (CASE WHEN $3 > login_rate_limits.at_ms \
         THEN $3 - login_rate_limits.at_ms ELSE 0 END) * $4 END)"
    };
}

/// What one attempt costs from an address's bucket: a bucket refills at its per-minute
/// limit in these units per millisecond, so the counting stays in whole numbers.
const ATTEMPT_TOKENS: i64 = 60_000;

/// Takes one attempt from the address's bucket; no row comes back when it is empty.
const TAKE_TOKEN: &str = concat!(
    "INSERT INTO login_rate_limits (address, tokens, at_ms) VALUES ($1, $2 - 60000, $3) \
     ON CONFLICT (address) DO UPDATE SET tokens = ",
    refilled!(),
    " - 60000, at_ms = $3 WHERE ",
    refilled!(),
    " >= 60000 RETURNING tokens"
);

/// What counting a login attempt said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginCheck {
    /// Counted against the pair and the account.
    Counted,
    /// The account and address pair, or the whole account, is locked: nothing counted.
    Locked,
}

/// The limits a login attempt is counted with.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    pub max_failures: i64,
    pub max_account_failures: i64,
    pub window_ms: i64,
}

impl Store {
    /// Counts a login attempt on `account` from `address` as failed, against the pair and
    /// against the account, unless either is locked (then nothing is counted). Both in one
    /// transaction: the pair's count is undone when the account turns out locked.
    pub async fn count_login_attempt(
        &self,
        account: &str,
        address: &str,
        now_ms: i64,
        limits: LoginLimits,
    ) -> Result<LoginCheck> {
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            for (key, max) in [
                (address, limits.max_failures),
                ("", limits.max_account_failures),
            ] {
                let counted: Option<i32> = sqlx::query_scalar(COUNT_FAILURE)
                    .bind(account)
                    .bind(key)
                    .bind(now_ms)
                    .bind(limits.window_ms)
                    .bind(max)
                    .fetch_optional(&mut *tx)
                    .await?;
                if counted.is_none() {
                    return Ok(LoginCheck::Locked);
                }
            }
            tx.commit().await?;
            Ok(LoginCheck::Counted)
        })
    }

    /// The attempt had the right password: its pair starts afresh and it no longer counts
    /// against the account (which it may have locked by being counted).
    pub async fn login_succeeded(
        &self,
        account: &str,
        address: &str,
        max_account_failures: i64,
    ) -> Result<()> {
        const FORGET_PAIR: &str =
            "DELETE FROM login_failures WHERE account = $1 AND address = $2 AND address <> ''";
        const UNCOUNT: &str = "UPDATE login_failures SET \
             failures = CASE WHEN failures > 0 THEN failures - 1 ELSE 0 END, \
             locked_until_ms = CASE WHEN failures - 1 < $2 THEN 0 ELSE locked_until_ms END \
             WHERE account = $1 AND address = ''";
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(FORGET_PAIR)
                .bind(account)
                .bind(address)
                .execute(&mut *tx)
                .await?;
            sqlx::query(UNCOUNT)
                .bind(account)
                .bind(max_account_failures)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Clears every lock and count of `account` (an administrator's unlock).
    pub async fn unlock_login(&self, account: &str) -> Result<()> {
        const SQL: &str = "DELETE FROM login_failures WHERE account = $1";
        on_pool!(self, write, |pool| {
            sqlx::query(SQL).bind(account).execute(pool).await?;
            Ok(())
        })
    }

    /// Takes one attempt from `address`'s bucket (`per_minute` attempts at once, refilled at
    /// `per_minute` a minute); `false` when it is empty.
    pub async fn take_login_token(
        &self,
        address: &str,
        now_ms: i64,
        per_minute: i64,
    ) -> Result<bool> {
        on_pool!(self, write, |pool| {
            let left: Option<i64> = sqlx::query_scalar(TAKE_TOKEN)
                .bind(address)
                .bind(per_minute * ATTEMPT_TOKENS)
                .bind(now_ms)
                .bind(per_minute)
                .fetch_optional(pool)
                .await?;
            Ok(left.is_some())
        })
    }

    /// Forgets failures counted before `failures_before` whose lock (if any) ended before it
    /// too, and buckets untouched since `buckets_before` (full again by then).
    pub async fn forget_login_attempts(
        &self,
        failures_before: i64,
        buckets_before: i64,
    ) -> Result<u64> {
        const FAILURES: &str =
            "DELETE FROM login_failures WHERE since_ms < $1 AND locked_until_ms < $1";
        const BUCKETS: &str = "DELETE FROM login_rate_limits WHERE at_ms < $1";
        on_pool!(self, write, |pool| {
            let failures = sqlx::query(FAILURES)
                .bind(failures_before)
                .execute(pool)
                .await?
                .rows_affected();
            let buckets = sqlx::query(BUCKETS)
                .bind(buckets_before)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(failures + buckets)
        })
    }
}
