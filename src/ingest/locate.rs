//! Tag state: per tag and gateway a smoothed RSSI, the tag's current gateway (with
//! hysteresis, so a tag between two gateways of similar strength does not flap), and an
//! x/y estimate on the current gateway's floor plan.
//!
//! The estimate is a weighted centroid of the placed gateways that heard the tag recently,
//! each weighted by 1/d², d from the log-distance path-loss model
//! d = 10^((rssi@1m − rssi) / (10·n)) — ESPresense-companion's default locator — refined,
//! on plans whose size is known, by a least-squares fit in metres and then tracked by a
//! constant-velocity Kalman filter (a walking tag moves smoothly; single readings are
//! noisy). Positions are fractions (0–1) of the plan image, as the console places devices.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

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

/// A gateway for the fit: where it is (metres), how high, and the distance its signal
/// suggests.
#[derive(Debug, Clone, Copy)]
struct Range {
    x: f64,
    y: f64,
    height: f64,
    distance: f64,
}

impl Range {
    /// The slant distance from a tag at (x, y).
    fn slant(&self, x: f64, y: f64) -> f64 {
        ((x - self.x).powi(2) + (y - self.y).powi(2) + self.height * self.height).sqrt()
    }
}

/// Minimises Σ (slant(p) − distance)² over p = (x, y) inside the plan, from `start`
/// (Gauss-Newton). Equal weights measured better than weighting near gateways more
/// (BENCHMARKS.md).
fn least_squares(anchors: &[Range], start: (f64, f64), size: (f64, f64)) -> (f64, f64) {
    if anchors.len() < 3 {
        return start; // two circles do not fix a point; the centroid is the better guess
    }
    let (mut x, mut y) = start;
    for _ in 0..15 {
        let (mut a11, mut a12, mut a22, mut b1, mut b2) = (1e-3, 0.0, 1e-3, 0.0, 0.0);
        for range in anchors {
            let distance = range.slant(x, y).max(1e-3);
            let (jx, jy, e) = (
                (x - range.x) / distance,
                (y - range.y) / distance,
                distance - range.distance,
            );
            a11 += jx * jx;
            a12 += jx * jy;
            a22 += jy * jy;
            b1 += jx * e;
            b2 += jy * e;
        }
        let det = a11 * a22 - a12 * a12;
        if det.abs() < 1e-12 {
            break;
        }
        let (sx, sy) = ((a22 * b1 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det);
        x = (x - sx).clamp(0.0, size.0);
        y = (y - sy).clamp(0.0, size.1);
        if sx.abs() + sy.abs() < 1e-3 {
            break;
        }
    }
    (x, y)
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

/// Tracking: how much a walking tag may accelerate (m/s², the process noise), and after
/// how long without an estimate the track starts afresh.
const TRACK_ACCELERATION: f64 = 2.0;
const TRACK_RESET_SECONDS: f64 = 10.0;
/// Measurements closer together than this describe the same moment.
const TRACK_SAME_MOMENT_SECONDS: f64 = 0.4;

/// One axis of a constant-velocity Kalman filter: position, velocity and their covariance.
#[derive(Debug, Clone, Copy)]
struct Axis {
    p: f64,
    v: f64,
    cov: [[f64; 2]; 2],
}

impl Axis {
    fn new(p: f64, variance: f64) -> Axis {
        Axis {
            p,
            v: 0.0,
            cov: [[variance, 0.0], [0.0, 1.0]],
        }
    }

    /// Moves the state `dt` seconds ahead, allowing for an unknown acceleration.
    fn predict(&mut self, dt: f64) {
        let q = TRACK_ACCELERATION * TRACK_ACCELERATION;
        let [[a, b], [_, d]] = self.cov;
        self.p += self.v * dt;
        self.cov = [
            [
                a + 2.0 * dt * b + dt * dt * d + q * dt.powi(4) / 4.0,
                b + dt * d + q * dt.powi(3) / 2.0,
            ],
            [0.0, d + q * dt * dt],
        ];
        self.cov[1][0] = self.cov[0][1];
    }

    /// Takes a measured position with variance `r`.
    fn update(&mut self, z: f64, r: f64) {
        let [[a, b], [_, d]] = self.cov;
        let s = a + r;
        let (k0, k1) = (a / s, b / s);
        let innovation = z - self.p;
        self.p += k0 * innovation;
        self.v += k1 * innovation;
        self.cov = [
            [(1.0 - k0) * a, (1.0 - k0) * b],
            [(1.0 - k0) * b, d - k1 * b],
        ];
    }
}

/// A tag's tracked position in metres on one plan.
#[derive(Debug, Clone, Copy)]
struct Track {
    plan: i64,
    x: Axis,
    y: Axis,
    at: DateTime<Utc>,
    /// The state before the latest measurement, and its time: a measurement that comes
    /// soon after (another gateway's report of the same moment, mostly the same signals)
    /// replaces the latest instead of counting as independent evidence.
    before: Option<(Axis, Axis, DateTime<Utc>)>,
}

#[derive(Debug, Default)]
pub struct TagState {
    signals: HashMap<i64, Signal>,
    current: Option<i64>,
    last_seen: Option<DateTime<Utc>>,
    track: Option<Track>,
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
    /// whose size is known. Each call takes the current signals as one measurement of the
    /// tag's track.
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
        // With the plan's size known, refine in metres: a least-squares fit of the slant
        // distances from the centroid, fed to the tag's track; the accuracy is the track's
        // uncertainty (at least 0.5 m).
        let metres = estimate.and_then(|(plan, x, y)| {
            let (width, height) = *plan_sizes.get(&plan)?;
            let ranges: Vec<Range> = used
                .iter()
                .map(|(a, d, _)| Range {
                    x: a.x * width,
                    y: a.y * height,
                    height: a.path_loss.height_m,
                    distance: *d,
                })
                .collect();
            let (xm, ym) = least_squares(&ranges, (x * width, y * height), (width, height));
            let residual = (ranges
                .iter()
                .map(|r| (r.slant(xm, ym) - r.distance).powi(2))
                .sum::<f64>()
                / ranges.len() as f64)
                .sqrt();
            let (xm, ym, accuracy) = self.track(plan, (xm, ym), residual, (width, height));
            Some((xm, ym, accuracy.max(0.5), xm / width, ym / height))
        });
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
    /// Feeds a measured position (metres, with its residual) to the tag's track on `plan`
    /// and returns the tracked position and its uncertainty.
    fn track(
        &mut self,
        plan: i64,
        (x, y): (f64, f64),
        residual: f64,
        (width, height): (f64, f64),
    ) -> (f64, f64, f64) {
        let at = self.last_seen.unwrap_or_default();
        // A single fit is good to about a metre, worse when the distances disagree.
        let r = 1.0 + residual * residual;
        let seconds = |from: DateTime<Utc>| (at - from).num_milliseconds() as f64 / 1000.0;
        let track = match self.track {
            Some(mut track) if track.plan == plan => {
                let start = match track.before {
                    Some(before) if seconds(track.at) < TRACK_SAME_MOMENT_SECONDS => before,
                    _ => (track.x, track.y, track.at),
                };
                let dt = seconds(start.2);
                if (0.0..=TRACK_RESET_SECONDS).contains(&dt) {
                    (track.x, track.y) = (start.0, start.1);
                    track.x.predict(dt);
                    track.y.predict(dt);
                    track.x.update(x, r);
                    track.y.update(y, r);
                    track.x.p = track.x.p.clamp(0.0, width);
                    track.y.p = track.y.p.clamp(0.0, height);
                    track.at = at;
                    track.before = Some(start);
                    Some(track)
                } else {
                    None
                }
            }
            _ => None,
        };
        let track = track.unwrap_or(Track {
            plan,
            x: Axis::new(x, r),
            y: Axis::new(y, r),
            at,
            before: None,
        });
        self.track = Some(track);
        let uncertainty = (track.x.cov[0][0] + track.y.cov[0][0]).sqrt();
        (track.x.p, track.y.p, uncertainty)
    }
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
        assert_eq!(p.y, Some(0.5));
        assert_eq!(p.rssi, Some(-60.0));
        assert_eq!(p.y_m, Some(5.0));
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
