-- Two appliances on one site (issue 20, docs/cluster.md): the leader's epoch. A cluster
-- needs PostgreSQL; the table exists on SQLite too so that both schemas stay alike, and
-- stays empty.
CREATE TABLE cluster_leader (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    epoch      BIGINT NOT NULL,
    node_name  TEXT NOT NULL,
    since      TEXT NOT NULL,
    written_at TEXT
);
