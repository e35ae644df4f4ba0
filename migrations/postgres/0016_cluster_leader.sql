-- Two appliances on one site (issue 20, docs/cluster.md): the leader of the stateful work
-- holds a session-level advisory lock; this one row says which epoch of leadership is
-- current. Each takeover bumps the epoch; each write batch of the pipeline updates
-- `written_at` only if its epoch is still current, in its own transaction, so a node that
-- lost the lock cannot commit after its successor took over (fencing).
CREATE TABLE cluster_leader (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    epoch      BIGINT NOT NULL,
    node_name  TEXT NOT NULL,
    since      TIMESTAMPTZ NOT NULL,
    written_at TIMESTAMPTZ
);
