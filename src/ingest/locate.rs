//! Tag state: per tag and gateway a smoothed RSSI, the tag's current gateway (with
//! hysteresis, so a tag between two gateways of similar strength does not flap), and an
//! x/y estimate on the current gateway's floor plan.
//!
//! The estimate is a weighted centroid of the placed gateways that heard the tag recently,
//! each weighted by 1/d², d from the log-distance path-loss model
//! d = 10^((rssi@1m − rssi) / (10·n)) — ESPresense-companion's default locator. On plans
//! whose size is known the tag is tracked in metres instead, by a particle filter that
//! weighs every sample against the path-loss model (`track.rs`). Positions are fractions
//! (0–1) of the plan image, as the console places devices.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::track::{Filter, Sample};

/// Smoothing factor of the exponential moving average of RSSI (weight of a new sample),
/// which chooses the current gateway.
const EMA_ALPHA: f64 = 0.5;
/// A sample weaker than the previous one by a multipath fade is replaced by that one if it
/// is at most this old (ms).
const FADE_WINDOW_MS: i64 = 1500;
/// How much stronger (dB) another gateway must be heard before the tag moves to it.
const HYSTERESIS_DB: f64 = 4.0;
/// Gateways not heard from the tag for this long no longer count.
const SIGNAL_WINDOW_SECONDS: i64 = 10;
/// After this long without a sample the track starts afresh.
const TRACK_RESET_SECONDS: f64 = 10.0;
/// Samples waiting for the next track step at most (a tag on a plan without a size keeps
/// none; this bounds a burst between two steps).
const PENDING_SAMPLES: usize = 64;
/// The log-distance path-loss model of one gateway: the RSSI of a tag 1 m away and how
/// fast it falls (site-wide values, overridable per gateway), and how high the gateway
/// hangs above the tags (path-loss distances are slant distances).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PathLoss {
    pub rssi_at_1m: f64,
    pub exponent: f64,
    pub height_m: f64,
}

impl PathLoss {
    /// Metres from a signal strength.
    fn distance(&self, rssi: f64) -> f64 {
        10f64
            .powf((self.rssi_at_1m - rssi) / (10.0 * self.exponent))
            .max(0.1)
    }
}

/// Where a gateway is drawn, and its path-loss model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anchor {
    pub floor_plan_id: i64,
    pub x: f64,
    pub y: f64,
    pub path_loss: PathLoss,
}

#[derive(Debug, Clone)]
struct Signal {
    /// Smoothed, for choosing the current gateway.
    ema: f64,
    last: DateTime<Utc>,
    /// The latest raw sample, to tell a multipath fade from a move.
    sample: f64,
    /// For positioning: the latest sample, or the one before when that is stronger and
    /// recent (a fade only ever weakens a signal; the track does the smoothing).
    level: f64,
}

/// What the API shows of a tag.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TagPosition {
    pub tag_id: i64,
    /// The gateway the tag is at (strongest smoothed signal, with hysteresis).
    pub device_id: i64,
    pub last_seen_at: DateTime<Utc>,
    /// Smoothed RSSI at the current gateway.
    pub rssi: Option<f64>,
    /// Estimate on the current gateway's plan, as fractions of the image; absent when the
    /// gateways that heard it are not placed.
    pub floor_plan_id: Option<i64>,
    pub x: Option<f64>,
    pub y: Option<f64>,
    /// The same estimate in metres, and its uncertainty, when the plan's size is known.
    pub x_m: Option<f64>,
    pub y_m: Option<f64>,
    pub accuracy_m: Option<f64>,
}

#[derive(Debug, Default)]
pub struct TagState {
    signals: HashMap<i64, Signal>,
    current: Option<i64>,
    last_seen: Option<DateTime<Utc>>,
    /// Samples (gateway, RSSI, time) not yet taken by the track.
    pending: Vec<(i64, f64, DateTime<Utc>)>,
    track: Option<Track>,
}

/// A tag's particle filter on one plan, and the time of its latest step.
#[derive(Debug, Clone)]
struct Track {
    plan: i64,
    filter: Filter,
    at: DateTime<Utc>,
}

impl TagState {
    /// Takes one sighting; returns true when the tag's gateway changed.
    pub fn hear(&mut self, gateway_id: i64, rssi: Option<i32>, at: DateTime<Utc>) -> bool {
        self.last_seen = Some(self.last_seen.map_or(at, |seen| seen.max(at)));
        if let Some(rssi) = rssi {
            let raw = f64::from(rssi);
            let signal = self.signals.entry(gateway_id).or_insert(Signal {
                ema: raw,
                last: at,
                sample: raw,
                level: raw,
            });
            let recent = at - signal.last <= Duration::milliseconds(FADE_WINDOW_MS);
            signal.level = if recent { raw.max(signal.sample) } else { raw };
            signal.sample = raw;
            signal.ema += EMA_ALPHA * (raw - signal.ema);
            signal.last = signal.last.max(at);
            if self.pending.len() == PENDING_SAMPLES {
                self.pending.remove(0);
            }
            self.pending.push((gateway_id, raw, at));
        } else {
            self.signals
                .entry(gateway_id)
                .or_insert(Signal {
                    ema: -100.0,
                    last: at,
                    sample: -100.0,
                    level: -100.0,
                })
                .last = at;
        }
        let window = Duration::seconds(SIGNAL_WINDOW_SECONDS);
        let latest = self.last_seen.unwrap_or(at);
        self.signals.retain(|_, s| latest - s.last <= window);
        let best = self
            .signals
            .iter()
            .max_by(|a, b| a.1.ema.total_cmp(&b.1.ema))
            .map(|(id, s)| (*id, s.ema));
        let Some((best_id, best_ema)) = best else {
            return false;
        };
        let next = match self
            .current
            .and_then(|c| self.signals.get(&c).map(|s| (c, s.ema)))
        {
            // The current gateway still hears the tag: move only for a clearly better one.
            Some((current, ema)) if best_ema < ema + HYSTERESIS_DB => current,
            _ => best_id,
        };
        let changed = self.current != Some(next);
        self.current = Some(next);
        changed
    }

    /// Forgets what a gateway (deleted, or moved to another plan) heard of the tag; returns
    /// true when the tag was at that gateway, which leaves it nowhere until heard again.
    pub fn forget_gateway(&mut self, gateway_id: i64) -> bool {
        self.signals.remove(&gateway_id);
        self.pending
            .retain(|(gateway, _, _)| *gateway != gateway_id);
        let was_here = self.current == Some(gateway_id);
        if was_here {
            self.current = None;
            self.track = None;
        }
        was_here
    }

    /// Whether no gateway hears the tag any more.
    pub fn is_empty(&self) -> bool {
        self.signals.is_empty()
    }

    /// The tag's position; `plan_sizes` gives the physical size (metres) of the plans
    /// whose size is known. Each call moves the tag's track on by the samples heard since
    /// the one before.
    pub fn position(
        &mut self,
        tag_id: i64,
        anchors: &HashMap<i64, Anchor>,
        plan_sizes: &HashMap<i64, (f64, f64)>,
    ) -> Option<TagPosition> {
        let device_id = self.current?;
        let rssi = self
            .signals
            .get(&device_id)
            .map(|s| (s.ema * 10.0).round() / 10.0);
        // (anchor, path-loss distance in metres, weight) of the placed gateways on the
        // current gateway's plan that hear the tag.
        let mut used = Vec::new();
        if let Some(home) = anchors.get(&device_id) {
            for (gateway, signal) in &self.signals {
                let Some(anchor) = anchors
                    .get(gateway)
                    .filter(|a| a.floor_plan_id == home.floor_plan_id)
                else {
                    continue;
                };
                let distance = anchor.path_loss.distance(signal.level);
                used.push((*anchor, distance, 1.0 / (distance * distance)));
            }
        }
        let total: f64 = used.iter().map(|u| u.2).sum();
        let estimate = (total > 0.0).then(|| {
            let x = used.iter().map(|(a, _, w)| a.x * w).sum::<f64>() / total;
            let y = used.iter().map(|(a, _, w)| a.y * w).sum::<f64>() / total;
            (used[0].0.floor_plan_id, x, y)
        });
        // With the plan's size known, track in metres; the accuracy is the track's
        // spread (at least 0.5 m).
        let metres = estimate.and_then(|(plan, _, _)| {
            let size = *plan_sizes.get(&plan)?;
            let (xm, ym, spread) = self.track(tag_id, plan, size, anchors)?;
            Some((xm, ym, spread.max(0.5), xm / size.0, ym / size.1))
        });
        self.pending.clear();
        let estimate = match metres {
            Some((_, _, _, x, y)) => estimate.map(|(plan, _, _)| (plan, x, y)),
            None => estimate,
        };
        if metres.is_none() {
            self.track = None;
        }
        let round = |v: f64| (v * 100.0).round() / 100.0;
        Some(TagPosition {
            tag_id,
            device_id,
            last_seen_at: self.last_seen?,
            rssi,
            floor_plan_id: estimate.map(|e| e.0),
            x: estimate.map(|e| e.1),
            y: estimate.map(|e| e.2),
            x_m: metres.map(|m| round(m.0)),
            y_m: metres.map(|m| round(m.1)),
            accuracy_m: metres.map(|m| round(m.2)),
        })
    }
}

impl TagState {
    /// Steps the tag's track on `plan` with the pending samples of the gateways placed on
    /// it; returns the tracked position (metres) and its spread.
    fn track(
        &mut self,
        tag_id: i64,
        plan: i64,
        size: (f64, f64),
        anchors: &HashMap<i64, Anchor>,
    ) -> Option<(f64, f64, f64)> {
        let at = self.pending.iter().map(|p| p.2).max();
        let samples: Vec<Sample> = self
            .pending
            .iter()
            .filter_map(|(gateway, rssi, heard)| {
                let anchor = anchors.get(gateway).filter(|a| a.floor_plan_id == plan)?;
                Some(Sample {
                    x: anchor.x * size.0,
                    y: anchor.y * size.1,
                    path_loss: anchor.path_loss,
                    rssi: *rssi,
                    age_s: at.map_or(0.0, |at| seconds(*heard, at)),
                })
            })
            .collect();
        let track = match (self.track.take(), at) {
            (Some(mut track), Some(at)) if track.plan == plan => {
                let dt = seconds(track.at, at);
                if dt <= TRACK_RESET_SECONDS {
                    track.filter.step(dt.max(0.0), &samples);
                    track.at = track.at.max(at);
                    Some(track)
                } else {
                    None
                }
            }
            (Some(track), None) if track.plan == plan => Some(track),
            _ => None,
        };
        let track = match track {
            Some(track) => track,
            None if samples.is_empty() => return None,
            None => {
                let mut filter = Filter::new(tag_id as u64, size);
                filter.step(0.0, &samples);
                Track {
                    plan,
                    filter,
                    at: at?,
                }
            }
        };
        let estimate = track.filter.estimate();
        self.track = Some(track);
        Some(estimate)
    }
}

/// Seconds from `from` to `to`.
fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: PathLoss = PathLoss {
        rssi_at_1m: -59.0,
        exponent: 2.5,
        height_m: 2.5,
    };

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::seconds(1_800_000_000 + seconds)
    }

    #[test]
    fn a_tag_between_two_similar_gateways_does_not_flap() {
        let mut state = TagState::default();
        let mut changes = 0;
        // Two gateways within ±3 dB of each other, alternating which is louder.
        for i in 0..100 {
            let (a, b) = if i % 2 == 0 { (-70, -68) } else { (-68, -71) };
            changes += usize::from(state.hear(1, Some(a), t(i)));
            changes += usize::from(state.hear(2, Some(b), t(i)));
        }
        assert_eq!(changes, 1, "only the first assignment");
    }

    #[test]
    fn a_tag_that_really_moves_changes_gateway() {
        let mut state = TagState::default();
        for i in 0..10 {
            state.hear(1, Some(-60), t(i));
            state.hear(2, Some(-85), t(i));
        }
        assert_eq!(state.current, Some(1));
        let mut moved_at = None;
        for i in 10..30 {
            let changed = state.hear(1, Some(-85), t(i)) | state.hear(2, Some(-60), t(i));
            if changed {
                moved_at.get_or_insert(i);
            }
        }
        assert_eq!(state.current, Some(2));
        assert!(
            moved_at.is_some_and(|i| i < 16),
            "moves within a few samples: {moved_at:?}"
        );
    }

    #[test]
    fn a_gateway_that_stops_hearing_the_tag_is_forgotten() {
        let mut state = TagState::default();
        state.hear(1, Some(-50), t(0));
        state.hear(2, Some(-80), t(0));
        state.hear(2, Some(-80), t(SIGNAL_WINDOW_SECONDS + 1));
        assert_eq!(state.current, Some(2));
    }

    #[test]
    fn the_estimate_leans_towards_the_stronger_gateway() {
        let anchors = HashMap::from([
            (
                1,
                Anchor {
                    floor_plan_id: 7,
                    x: 0.0,
                    y: 0.5,
                    path_loss: SITE,
                },
            ),
            (
                2,
                Anchor {
                    floor_plan_id: 7,
                    x: 1.0,
                    y: 0.5,
                    path_loss: SITE,
                },
            ),
            (
                3,
                Anchor {
                    floor_plan_id: 8,
                    x: 0.5,
                    y: 0.5,
                    path_loss: SITE,
                },
            ),
        ]);
        let mut state = TagState::default();
        for i in 0..5 {
            state.hear(1, Some(-60), t(i));
            state.hear(2, Some(-75), t(i));
            state.hear(3, Some(-90), t(i));
        }
        state.hear(1, Some(-60), t(5));
        let p = state
            .position(42, &anchors, &HashMap::from([(7, (20.0, 10.0))]))
            .unwrap();
        assert_eq!((p.device_id, p.floor_plan_id), (1, Some(7)));
        let x = p.x.unwrap();
        assert!(x > 0.0 && x < 0.2, "{x}");
        // The tracked estimate is the particles' mean: near the gateways' line, not on it.
        assert!((p.y.unwrap() - 0.5).abs() < 0.1, "{p:?}");
        assert_eq!(p.rssi, Some(-60.0));
        assert!((p.y_m.unwrap() - 5.0).abs() < 1.0, "{p:?}");
        assert!(
            p.x_m.unwrap() < 4.0 && p.accuracy_m.unwrap() >= 0.5,
            "{p:?}"
        );
        // A gateway calibrated as louder at 1 m makes the same signal mean farther: the
        // estimate moves away from it.
        let mut loud = anchors.clone();
        loud.get_mut(&1).unwrap().path_loss.rssi_at_1m = -45.0;
        let mut calibrated = TagState::default();
        for i in 0..6 {
            calibrated.hear(1, Some(-60), t(i));
            calibrated.hear(2, Some(-75), t(i));
        }
        let moved = calibrated
            .position(42, &loud, &HashMap::from([(7, (20.0, 10.0))]))
            .unwrap();
        assert!(
            moved.x_m.unwrap() > p.x_m.unwrap() + 1.0,
            "{moved:?} vs {p:?}"
        );
        // Without placed gateways there is a gateway but no x/y.
        let none = state
            .position(42, &HashMap::new(), &HashMap::new())
            .unwrap();
        assert_eq!((none.device_id, none.x), (1, None));
    }
}
