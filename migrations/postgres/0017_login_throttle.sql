-- Login throttles and lockouts in the database (issue 20, docs/cluster.md): every node of a
-- site counts against the same rows, so attempts spread over several nodes are limited as
-- on one, and a restart keeps a lockout. Times are milliseconds since the Unix epoch: the
-- counting is arithmetic in one SQL text for both engines (src/store/logins.rs).

-- Failed logins per account and address pair, and per account (`address` empty).
CREATE TABLE login_failures (
    account         TEXT NOT NULL,
    address         TEXT NOT NULL,
    failures        INTEGER NOT NULL,
    -- Start of the counting window.
    since_ms        BIGINT NOT NULL,
    -- 0: not locked.
    locked_until_ms BIGINT NOT NULL,
    -- Lockouts so far: each one lasts twice as long as the one before.
    lockouts        INTEGER NOT NULL,
    PRIMARY KEY (account, address)
);

-- The per-address token bucket of login attempts, in 1/60000 of an attempt.
CREATE TABLE login_rate_limits (
    address TEXT PRIMARY KEY,
    tokens  BIGINT NOT NULL,
    at_ms   BIGINT NOT NULL
);
