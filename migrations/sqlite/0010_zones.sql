-- Zones (issue 14, part 2): polygons drawn on a floor plan, in plan fractions, stored as
-- JSON text ([{"x": …, "y": …}, …]) and deleted with their plan. Alert rules gain the zone
-- they watch, the one person they apply to and the absence limit; `alert_countdowns` keeps
-- the arrivals of dwell rules whose limit has not passed yet, so a restart resumes them.

CREATE TABLE zones (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    floor_plan_id BIGINT NOT NULL REFERENCES floor_plans (id) ON DELETE CASCADE,
    name          VARCHAR(255) NOT NULL,
    color         VARCHAR(32),
    points        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX ix_zones_floor_plan_id ON zones (floor_plan_id);

ALTER TABLE alert_rules ADD COLUMN zone_id BIGINT REFERENCES zones (id) ON DELETE SET NULL;
ALTER TABLE alert_rules ADD COLUMN person_id BIGINT REFERENCES people (id) ON DELETE SET NULL;
ALTER TABLE alert_rules ADD COLUMN max_absence_seconds INTEGER;
CREATE INDEX ix_alert_rules_zone_id ON alert_rules (zone_id);
CREATE INDEX ix_alert_rules_person_id ON alert_rules (person_id);

CREATE TABLE alert_countdowns (
    rule_id      BIGINT NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    tag_id       BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    arrived_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    PRIMARY KEY (rule_id, tag_id)
);
CREATE INDEX ix_alert_countdowns_tag_id ON alert_countdowns (tag_id);
