//! The position history recorder: which of a tag's positions are kept. At most one point
//! per tag every `positions.history_interval_seconds` while it moves (more than
//! `history_min_move_m`, or onto another plan), and one every `history_keepalive_seconds`
//! while it stands still, so that its dwell is known. The points join the round's batch
//! and are written with the readings, in the same transaction.
//!
//! The recorder remembers each tag's last recorded point: created with the tag's first
//! point, dropped when the pipeline forgets the tag (deleted, or another MAC, person or
//! active flag: [`Pipeline::forget_tag`](super::pipeline::Pipeline)) or when the tag has not
//! been recorded for two keepalives (silent, or off every plan), and empty after a restart,
//! so the first point after any of these is always written.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::locate::TagPosition;
use crate::config::PositionsConfig;
use crate::store::history::HistoryPoint;

/// On a plan without a physical size, a move is a change of more than this fraction of
/// the plan (its width and height weigh alike).
const MOVE_FRACTION: f64 = 0.01;

/// The last point recorded of a tag.
#[derive(Debug, Clone, Copy)]
struct Recorded {
    floor_plan_id: i64,
    ts: DateTime<Utc>,
    x: f64,
    y: f64,
    metres: Option<(f64, f64)>,
    /// When it was recorded, by this process's clock (the sweep's measure: a gateway's
    /// clock may be off).
    at: Instant,
}

pub struct Recorder {
    enabled: bool,
    interval: chrono::Duration,
    keepalive: chrono::Duration,
    min_move_m: f64,
    last: HashMap<i64, Recorded>,
}

impl Recorder {
    pub fn new(config: &PositionsConfig) -> Recorder {
        Recorder {
            enabled: config.history_enabled,
            interval: chrono::Duration::seconds(i64::from(config.history_interval_seconds)),
            keepalive: chrono::Duration::seconds(i64::from(config.history_keepalive_seconds)),
            min_move_m: config.history_min_move_m,
            last: HashMap::new(),
        }
    }

    /// The point to keep of this position, if any. Positions off every plan are not kept,
    /// nor one older than the tag's last point (a gateway's late report).
    pub fn offer(&mut self, p: &TagPosition) -> Option<HistoryPoint> {
        if !self.enabled {
            return None;
        }
        let (Some(floor_plan_id), Some(x), Some(y)) = (p.floor_plan_id, p.x, p.y) else {
            return None;
        };
        let metres = p.x_m.zip(p.y_m);
        if let Some(last) = self.last.get(&p.tag_id) {
            let elapsed = p.last_seen_at - last.ts;
            if elapsed < self.interval {
                return None;
            }
            let moved = last.floor_plan_id != floor_plan_id
                || match (last.metres, metres) {
                    (Some((lx, ly)), Some((mx, my))) => (mx - lx).hypot(my - ly) > self.min_move_m,
                    _ => (x - last.x).hypot(y - last.y) > MOVE_FRACTION,
                };
            if !moved && elapsed < self.keepalive {
                return None;
            }
        }
        self.last.insert(
            p.tag_id,
            Recorded {
                floor_plan_id,
                ts: p.last_seen_at,
                x,
                y,
                metres,
                at: Instant::now(),
            },
        );
        Some(HistoryPoint {
            tag_id: p.tag_id,
            floor_plan_id,
            ts: p.last_seen_at,
            x,
            y,
            accuracy_m: p.accuracy_m,
        })
    }

    /// Forgets a tag: its next point is written whatever it is.
    pub fn forget(&mut self, tag_id: i64) {
        self.last.remove(&tag_id);
    }

    /// Forgets the tags not recorded for two keepalives: silent, or off every plan.
    pub fn sweep(&mut self) {
        let stale = self.keepalive.to_std().unwrap_or(Duration::ZERO) * 2;
        self.last.retain(|_, r| r.at.elapsed() <= stale);
    }

    /// How many tags the recorder remembers.
    pub fn len(&self) -> usize {
        self.last.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(seconds: i64, plan: i64, x_m: f64) -> TagPosition {
        TagPosition {
            tag_id: 7,
            device_id: 1,
            last_seen_at: DateTime::UNIX_EPOCH + chrono::Duration::seconds(1_800_000_000 + seconds),
            rssi: None,
            floor_plan_id: Some(plan),
            x: Some(x_m / 20.0),
            y: Some(0.5),
            x_m: Some(x_m),
            y_m: Some(5.0),
            accuracy_m: Some(1.0),
        }
    }

    #[test]
    fn moves_are_kept_every_interval_and_stillness_every_keepalive() {
        let mut recorder = Recorder::new(&PositionsConfig::default());
        let kept = |r: &mut Recorder, s, plan, x| r.offer(&position(s, plan, x)).is_some();
        assert!(kept(&mut recorder, 0, 1, 1.0), "the first point");
        assert!(
            !kept(&mut recorder, 1, 1, 3.0),
            "a move within the interval"
        );
        assert!(kept(&mut recorder, 2, 1, 3.0), "a move after it");
        assert!(
            !kept(&mut recorder, 4, 1, 3.2),
            "less than the minimum move"
        );
        assert!(
            !kept(&mut recorder, 61, 1, 3.0),
            "still, before the keepalive"
        );
        assert!(kept(&mut recorder, 62, 1, 3.0), "the keepalive");
        assert!(kept(&mut recorder, 64, 2, 3.0), "another plan is a move");
        assert!(
            !kept(&mut recorder, 10, 2, 9.0),
            "never older than the last point"
        );
        recorder.forget(7);
        assert!(
            kept(&mut recorder, 65, 2, 3.0),
            "forgotten: the next point is kept"
        );
        assert_eq!(recorder.len(), 1);
        let mut off = Recorder::new(&PositionsConfig {
            history_enabled: false,
            ..PositionsConfig::default()
        });
        assert!(!kept(&mut off, 0, 1, 1.0));
    }
}
