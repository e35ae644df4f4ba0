//! What a rule is: its kind (what it watches) and its schedule (when it is armed).

use chrono::{Datelike, NaiveDateTime, NaiveTime, Timelike};
use serde::{Deserialize, Serialize};

use crate::store::devices::{BLE_GATEWAY, CAMERA};

/// Declares [`RuleKind`]: each kind once, with its wire name and what it needs.
macro_rules! rule_kinds {
    ($($variant:ident = $wire:literal, $needs_device:literal, $device_type:expr;)+) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum RuleKind {
            $($variant,)+
        }

        impl RuleKind {
            pub const ALL: &[RuleKind] = &[$(RuleKind::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(RuleKind::$variant => $wire,)+
                }
            }

            /// Whether the rule must name a device (a tag rule watches one gateway; a
            /// device status rule without one watches every device of its type).
            pub fn needs_device(self) -> bool {
                match self {
                    $(RuleKind::$variant => $needs_device,)+
                }
            }

            /// The type a device the rule names must have.
            pub fn device_type(self) -> &'static str {
                match self {
                    $(RuleKind::$variant => $device_type,)+
                }
            }
        }
    };
}

rule_kinds! {
    ForbiddenSector = "FORBIDDEN_SECTOR", true, BLE_GATEWAY;
    DwellTime = "DWELL_TIME", true, BLE_GATEWAY;
    GatewayOffline = "GATEWAY_OFFLINE", false, BLE_GATEWAY;
    GatewayOnline = "GATEWAY_ONLINE", false, BLE_GATEWAY;
    CameraOffline = "CAMERA_OFFLINE", false, CAMERA;
    CameraOnline = "CAMERA_ONLINE", false, CAMERA;
    ZoneEnter = "ZONE_ENTER", false, BLE_GATEWAY;
    ZoneExit = "ZONE_EXIT", false, BLE_GATEWAY;
    ZoneDwell = "ZONE_DWELL", false, BLE_GATEWAY;
    Absence = "ABSENCE", false, BLE_GATEWAY;
}

impl RuleKind {
    pub fn parse(name: &str) -> Option<RuleKind> {
        RuleKind::ALL.iter().copied().find(|k| k.as_str() == name)
    }

    /// Rules about the tags a gateway hears (a person group applies to them).
    pub fn watches_tags(self) -> bool {
        matches!(self, RuleKind::ForbiddenSector | RuleKind::DwellTime)
    }

    /// Rules about the tags inside a zone.
    pub fn watches_zone(self) -> bool {
        matches!(
            self,
            RuleKind::ZoneEnter | RuleKind::ZoneExit | RuleKind::ZoneDwell
        )
    }

    /// Rules about people: a person group or one person narrows them.
    pub fn watches_people(self) -> bool {
        self.watches_tags() || self.watches_zone() || self == RuleKind::Absence
    }

    /// Rules whose alert opens once a tag has stayed for `max_dwell_seconds`.
    pub fn dwells(self) -> bool {
        matches!(self, RuleKind::DwellTime | RuleKind::ZoneDwell)
    }

    pub fn names() -> Vec<&'static str> {
        RuleKind::ALL.iter().map(|k| k.as_str()).collect()
    }
}

/// When a rule is armed: on `days` (none: every day), within one of `ranges` (none: all
/// day), in the site's time zone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// `MON` … `SUN`.
    #[serde(default)]
    pub days: Vec<String>,
    #[serde(default)]
    pub ranges: Vec<TimeRange>,
}

/// From `start` (included) to `end` (excluded), `HH:MM` (or `HH:MM:SS`); `end` may be
/// `24:00`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeRange {
    pub start: String,
    pub end: String,
}

pub const DAYS: [&str; 7] = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];

/// A time of day in seconds; `24:00` is the end of the day.
fn seconds_of(text: &str) -> Option<u32> {
    if text == "24:00" || text == "24:00:00" {
        return Some(86_400);
    }
    let time = NaiveTime::parse_from_str(text, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M:%S"))
        .ok()?;
    Some(time.num_seconds_from_midnight())
}

impl Schedule {
    /// The problems of a schedule, as (field path under `schedule`, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        for (i, day) in self.days.iter().enumerate() {
            if !DAYS.contains(&day.to_ascii_uppercase().as_str()) {
                problems.push((
                    format!("schedule.days[{i}]"),
                    format!("unknown day {day:?}: one of {}", DAYS.join(", ")),
                ));
            }
        }
        for (i, range) in self.ranges.iter().enumerate() {
            let (start, end) = (seconds_of(&range.start), seconds_of(&range.end));
            if start.is_none_or(|s| s >= 86_400) {
                problems.push((
                    format!("schedule.ranges[{i}].start"),
                    "must be a time of day, HH:MM".into(),
                ));
            }
            match (start, end) {
                (_, None) => problems.push((
                    format!("schedule.ranges[{i}].end"),
                    "must be a time of day, HH:MM (24:00 for the end of the day)".into(),
                )),
                (Some(start), Some(end)) if end <= start => problems.push((
                    format!("schedule.ranges[{i}].end"),
                    "must be after start (split a range across midnight in two)".into(),
                )),
                _ => {}
            }
        }
        problems
    }

    /// The schedule with its days in upper case.
    pub fn normalised(mut self) -> Schedule {
        for day in &mut self.days {
            *day = day.to_ascii_uppercase();
        }
        self
    }

    /// Whether the rule is armed at this local time.
    pub fn armed(&self, local: NaiveDateTime) -> bool {
        let day = DAYS[local.weekday().num_days_from_monday() as usize];
        if !self.days.is_empty() && !self.days.iter().any(|d| d.eq_ignore_ascii_case(day)) {
            return false;
        }
        let now = local.time().num_seconds_from_midnight();
        self.ranges.is_empty()
            || self.ranges.iter().any(|r| {
                matches!((seconds_of(&r.start), seconds_of(&r.end)),
                    (Some(start), Some(end)) if start <= now && now < end)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn schedules_arm_on_their_days_and_ranges() {
        let s = Schedule {
            days: vec!["mon".into(), "FRI".into()],
            ranges: vec![TimeRange {
                start: "08:00".into(),
                end: "18:30".into(),
            }],
        };
        assert!(s.problems().is_empty());
        // 2026-11-30 is a Monday.
        assert!(s.armed(at("2026-11-30 08:00")));
        assert!(!s.armed(at("2026-11-30 18:30")));
        assert!(!s.armed(at("2026-12-01 09:00")), "a Tuesday");
        assert!(Schedule::default().armed(at("2026-12-01 03:00")));
        let bad = Schedule {
            days: vec!["MONDAY".into()],
            ranges: vec![TimeRange {
                start: "18:00".into(),
                end: "08:00".into(),
            }],
        };
        let fields: Vec<String> = bad.problems().into_iter().map(|p| p.0).collect();
        assert_eq!(fields, ["schedule.days[0]", "schedule.ranges[0].end"]);
    }
}
