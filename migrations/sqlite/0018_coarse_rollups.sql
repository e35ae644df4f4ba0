-- Coarser presence rollups (issue 17), for the reports of the whole site, a building or a
-- large group, which the hourly (hour, tag, gateway) rollups answer only by reading about
-- as many rows as sessions. Each row holds what `presence_rollups` holds (dwell in
-- microseconds, sessions touching the period, sessions starting in it, earliest start,
-- latest end) for a coarser key; `src/reports/rollups.rs` says which report reads which,
-- and the pass fills them with `presence_rollups`, in the same transaction.

-- Per UTC hour and gateway, with the tags present (`tag_ids`: decimal ids separated by
-- commas, a tag possibly listed twice; distinct people are not additive, so each report
-- counts them from these lists).
CREATE TABLE presence_gateway_hours (
    hour        TEXT NOT NULL,
    device_id   BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    dwell_us    BIGINT NOT NULL,
    touches     BIGINT NOT NULL,
    starts      BIGINT NOT NULL,
    first_start TEXT NOT NULL,
    last_end    TEXT NOT NULL,
    tag_ids     TEXT NOT NULL,
    PRIMARY KEY (hour, device_id)
) WITHOUT ROWID;

-- Per UTC hour and tag (the hours at the edges of a window), and per UTC day and tag.
CREATE TABLE presence_tag_hours (
    hour        TEXT NOT NULL,
    tag_id      BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    dwell_us    BIGINT NOT NULL,
    touches     BIGINT NOT NULL,
    starts      BIGINT NOT NULL,
    first_start TEXT NOT NULL,
    last_end    TEXT NOT NULL,
    PRIMARY KEY (hour, tag_id)
) WITHOUT ROWID;
CREATE TABLE presence_tag_days (
    day         TEXT NOT NULL,
    tag_id      BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    dwell_us    BIGINT NOT NULL,
    touches     BIGINT NOT NULL,
    starts      BIGINT NOT NULL,
    first_start TEXT NOT NULL,
    last_end    TEXT NOT NULL,
    PRIMARY KEY (day, tag_id)
) WITHOUT ROWID;

-- Per UTC day, tag and gateway, keyed by tag first: a group's rows are read tag by tag.
CREATE TABLE presence_tag_gateway_days (
    day         TEXT NOT NULL,
    tag_id      BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    device_id   BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    dwell_us    BIGINT NOT NULL,
    touches     BIGINT NOT NULL,
    starts      BIGINT NOT NULL,
    first_start TEXT NOT NULL,
    last_end    TEXT NOT NULL,
    PRIMARY KEY (tag_id, day, device_id)
) WITHOUT ROWID;
CREATE INDEX ix_presence_tag_gateway_days_day ON presence_tag_gateway_days (day);
CREATE INDEX ix_presence_tag_gateway_days_device ON presence_tag_gateway_days (device_id);

-- The sessions rolled up before this migration, from their hourly rollups. A session
-- touches a day once: it starts in one of its hours or continues into its first one.
INSERT INTO presence_gateway_hours (hour, device_id, dwell_us, touches, starts, first_start,
    last_end, tag_ids)
SELECT hour, device_id, SUM(dwell_us), SUM(touches), SUM(starts), MIN(first_start),
    MAX(last_end), group_concat(tag_id, ',')
FROM presence_rollups GROUP BY hour, device_id;
INSERT INTO presence_tag_hours (hour, tag_id, dwell_us, touches, starts, first_start, last_end)
SELECT hour, tag_id, SUM(dwell_us), SUM(touches), SUM(starts), MIN(first_start), MAX(last_end)
FROM presence_rollups GROUP BY hour, tag_id;
INSERT INTO presence_tag_gateway_days (day, tag_id, device_id, dwell_us, touches, starts,
    first_start, last_end)
SELECT substr(hour, 1, 10) || 'T00:00:00+00:00' AS d, tag_id, device_id, SUM(dwell_us),
    SUM(starts) + SUM(CASE WHEN substr(hour, 12, 2) = '00' THEN touches - starts ELSE 0 END),
    SUM(starts), MIN(first_start), MAX(last_end)
FROM presence_rollups GROUP BY d, tag_id, device_id;
INSERT INTO presence_tag_days (day, tag_id, dwell_us, touches, starts, first_start, last_end)
SELECT day, tag_id, SUM(dwell_us), SUM(touches), SUM(starts), MIN(first_start), MAX(last_end)
FROM presence_tag_gateway_days GROUP BY day, tag_id;

-- Deleting a tag or a gateway deletes its sessions and its rows in the tables keyed by
-- it; the rows that only sum it (a gateway's hours for a tag, a tag's hours and days for a
-- gateway) are made again from the finer rows without it, so that the reports stay those
-- of the sessions.
CREATE TRIGGER presence_rollups_forget_tag BEFORE DELETE ON tags BEGIN
    DELETE FROM presence_gateway_hours WHERE (hour, device_id) IN
        (SELECT hour, device_id FROM presence_rollups WHERE tag_id = OLD.id);
    INSERT INTO presence_gateway_hours (hour, device_id, dwell_us, touches, starts,
        first_start, last_end, tag_ids)
    SELECT r.hour, r.device_id, SUM(r.dwell_us), SUM(r.touches), SUM(r.starts),
        MIN(r.first_start), MAX(r.last_end), group_concat(r.tag_id, ',')
    FROM presence_rollups r WHERE r.tag_id <> OLD.id AND (r.hour, r.device_id) IN
        (SELECT hour, device_id FROM presence_rollups WHERE tag_id = OLD.id)
    GROUP BY r.hour, r.device_id;
END;
CREATE TRIGGER presence_rollups_forget_device BEFORE DELETE ON devices BEGIN
    DELETE FROM presence_tag_hours WHERE (hour, tag_id) IN
        (SELECT hour, tag_id FROM presence_rollups WHERE device_id = OLD.id);
    INSERT INTO presence_tag_hours (hour, tag_id, dwell_us, touches, starts, first_start,
        last_end)
    SELECT r.hour, r.tag_id, SUM(r.dwell_us), SUM(r.touches), SUM(r.starts),
        MIN(r.first_start), MAX(r.last_end)
    FROM presence_rollups r WHERE r.device_id <> OLD.id AND (r.hour, r.tag_id) IN
        (SELECT hour, tag_id FROM presence_rollups WHERE device_id = OLD.id)
    GROUP BY r.hour, r.tag_id;
    DELETE FROM presence_tag_days WHERE (day, tag_id) IN
        (SELECT day, tag_id FROM presence_tag_gateway_days WHERE device_id = OLD.id);
    INSERT INTO presence_tag_days (day, tag_id, dwell_us, touches, starts, first_start,
        last_end)
    SELECT r.day, r.tag_id, SUM(r.dwell_us), SUM(r.touches), SUM(r.starts),
        MIN(r.first_start), MAX(r.last_end)
    FROM presence_tag_gateway_days r WHERE r.device_id <> OLD.id AND (r.day, r.tag_id) IN
        (SELECT day, tag_id FROM presence_tag_gateway_days WHERE device_id = OLD.id)
    GROUP BY r.day, r.tag_id;
END;
