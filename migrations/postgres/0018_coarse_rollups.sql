-- Twin of SQLite's 0018: coarser presence rollups (per hour and gateway with the tags
-- present, per hour and tag, per day and tag, per day, tag and gateway), filled from the
-- hourly rollups of the sessions rolled up before, and the triggers that keep them those of
-- the sessions when a tag or a gateway is deleted.
CREATE TABLE presence_gateway_hours (
    hour        TIMESTAMPTZ NOT NULL,
    device_id   BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    dwell_us    BIGINT NOT NULL,
    touches     BIGINT NOT NULL,
    starts      BIGINT NOT NULL,
    first_start TIMESTAMPTZ NOT NULL,
    last_end    TIMESTAMPTZ NOT NULL,
    tag_ids     TEXT NOT NULL,
    PRIMARY KEY (hour, device_id)
);
CREATE TABLE presence_tag_hours (
    hour        TIMESTAMPTZ NOT NULL,
    tag_id      BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    dwell_us    BIGINT NOT NULL,
    touches     BIGINT NOT NULL,
    starts      BIGINT NOT NULL,
    first_start TIMESTAMPTZ NOT NULL,
    last_end    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (hour, tag_id)
);
CREATE TABLE presence_tag_days (
    day         TIMESTAMPTZ NOT NULL,
    tag_id      BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    dwell_us    BIGINT NOT NULL,
    touches     BIGINT NOT NULL,
    starts      BIGINT NOT NULL,
    first_start TIMESTAMPTZ NOT NULL,
    last_end    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (day, tag_id)
);
CREATE TABLE presence_tag_gateway_days (
    day         TIMESTAMPTZ NOT NULL,
    tag_id      BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    device_id   BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    dwell_us    BIGINT NOT NULL,
    touches     BIGINT NOT NULL,
    starts      BIGINT NOT NULL,
    first_start TIMESTAMPTZ NOT NULL,
    last_end    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tag_id, day, device_id)
);
CREATE INDEX ix_presence_tag_gateway_days_day ON presence_tag_gateway_days (day);
CREATE INDEX ix_presence_tag_gateway_days_device ON presence_tag_gateway_days (device_id);

-- The sessions rolled up before this migration, from their hourly rollups.
INSERT INTO presence_gateway_hours (hour, device_id, dwell_us, touches, starts, first_start,
    last_end, tag_ids)
SELECT hour, device_id, SUM(dwell_us), SUM(touches), SUM(starts), MIN(first_start),
    MAX(last_end), string_agg(tag_id::text, ',')
FROM presence_rollups GROUP BY hour, device_id;
INSERT INTO presence_tag_hours (hour, tag_id, dwell_us, touches, starts, first_start, last_end)
SELECT hour, tag_id, SUM(dwell_us), SUM(touches), SUM(starts), MIN(first_start), MAX(last_end)
FROM presence_rollups GROUP BY hour, tag_id;
INSERT INTO presence_tag_gateway_days (day, tag_id, device_id, dwell_us, touches, starts,
    first_start, last_end)
SELECT date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS d, tag_id, device_id,
    SUM(dwell_us),
    SUM(starts) + SUM(CASE WHEN EXTRACT(HOUR FROM hour AT TIME ZONE 'UTC') = 0
        THEN touches - starts ELSE 0 END),
    SUM(starts), MIN(first_start), MAX(last_end)
FROM presence_rollups GROUP BY d, tag_id, device_id;
INSERT INTO presence_tag_days (day, tag_id, dwell_us, touches, starts, first_start, last_end)
SELECT day, tag_id, SUM(dwell_us), SUM(touches), SUM(starts), MIN(first_start), MAX(last_end)
FROM presence_tag_gateway_days GROUP BY day, tag_id;

-- Deleting a tag or a gateway makes the rows that summed it without its key again.
CREATE FUNCTION presence_rollups_forget_tag() RETURNS trigger AS $$
BEGIN
    DELETE FROM presence_gateway_hours WHERE (hour, device_id) IN
        (SELECT hour, device_id FROM presence_rollups WHERE tag_id = OLD.id);
    INSERT INTO presence_gateway_hours (hour, device_id, dwell_us, touches, starts,
        first_start, last_end, tag_ids)
    SELECT r.hour, r.device_id, SUM(r.dwell_us), SUM(r.touches), SUM(r.starts),
        MIN(r.first_start), MAX(r.last_end), string_agg(r.tag_id::text, ',')
    FROM presence_rollups r WHERE r.tag_id <> OLD.id AND (r.hour, r.device_id) IN
        (SELECT hour, device_id FROM presence_rollups WHERE tag_id = OLD.id)
    GROUP BY r.hour, r.device_id;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER presence_rollups_forget_tag BEFORE DELETE ON tags
    FOR EACH ROW EXECUTE FUNCTION presence_rollups_forget_tag();

CREATE FUNCTION presence_rollups_forget_device() RETURNS trigger AS $$
BEGIN
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
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER presence_rollups_forget_device BEFORE DELETE ON devices
    FOR EACH ROW EXECUTE FUNCTION presence_rollups_forget_device();
