//! Tag state: per tag and gateway a smoothed RSSI, the tag's current gateway (with
//! hysteresis, so a tag between two gateways of similar strength does not flap), and an
//! x/y estimate on the current gateway's floor plan.
//!
//! The estimate is a weighted centroid of the placed gateways that heard the tag recently,
//! each weighted by 1/d², d from the log-distance path-loss model
//! d = 10^((rssi@1m − rssi) / (10·n)) — ESPresense-companion's default locator. Positions
//! are fractions (0–1) of the plan image, as the console places devices.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// Smoothing factor of the exponential moving average of RSSI (weight of a new sample).
const EMA_ALPHA: f64 = 0.5;
/// How much stronger (dB) another gateway must be heard before the tag moves to it.
const HYSTERESIS_DB: f64 = 4.0;
/// Gateways not heard from the tag for this long no longer count.
const SIGNAL_WINDOW_SECONDS: i64 = 10;
/// Path-loss model: RSSI at 1 m and exponent.
const RSSI_AT_1M: f64 = -59.0;
const PATH_LOSS_EXPONENT: f64 = 2.5;

/// How far above the tags gateways hang (ceiling mounts); the path-loss distance is the
/// slant distance, the plan needs the horizontal one.
const GATEWAY_HEIGHT_M: f64 = 2.5;

/// Minimises Σ w·(|p − a| − r)² over p = (x, y) inside the plan, from `start`.
/// `anchors`: (x, y, horizontal distance, weight), in metres.
fn least_squares(
    anchors: &[(f64, f64, f64, f64)],
    start: (f64, f64),
    size: (f64, f64),
) -> (f64, f64) {
    if anchors.len() < 3 {
        return start; // two circles do not fix a point; the centroid is the better guess
    }
    let (mut x, mut y) = start;
    for _ in 0..15 {
        let (mut a11, mut a12, mut a22, mut b1, mut b2) = (1e-3, 0.0, 1e-3, 0.0, 0.0);
        for (ax, ay, r, w) in anchors {
            let (dx, dy) = (x - ax, y - ay);
            let distance = (dx * dx + dy * dy).sqrt().max(1e-3);
            let (jx, jy, e) = (dx / distance, dy / distance, distance - r);
            a11 += w * jx * jx;
            a12 += w * jx * jy;
            a22 += w * jy * jy;
            b1 += w * jx * e;
            b2 += w * jy * e;
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

/// Where a gateway is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anchor {
    pub floor_plan_id: i64,
    pub x: f64,
    pub y: f64,
}

#[derive(Debug, Clone)]
struct Signal {
    ema: f64,
    last: DateTime<Utc>,
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
}

impl TagState {
    /// Takes one sighting; returns true when the tag's gateway changed.
    pub fn hear(&mut self, gateway_id: i64, rssi: Option<i32>, at: DateTime<Utc>) -> bool {
        self.last_seen = Some(self.last_seen.map_or(at, |seen| seen.max(at)));
        if let Some(rssi) = rssi {
            let sample = f64::from(rssi);
            let signal = self.signals.entry(gateway_id).or_insert(Signal {
                ema: sample,
                last: at,
            });
            signal.ema += EMA_ALPHA * (sample - signal.ema);
            signal.last = signal.last.max(at);
        } else {
            self.signals
                .entry(gateway_id)
                .or_insert(Signal {
                    ema: -100.0,
                    last: at,
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

    /// The tag's position; `plan_sizes` gives the physical size (metres) of the plans
    /// whose size is known.
    pub fn position(
        &self,
        tag_id: i64,
        anchors: &HashMap<i64, Anchor>,
        plan_sizes: &HashMap<i64, (f64, f64)>,
    ) -> Option<TagPosition> {
        let device_id = self.current?;
        let current = self.signals.get(&device_id);
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
                let distance = 10f64
                    .powf((RSSI_AT_1M - signal.ema) / (10.0 * PATH_LOSS_EXPONENT))
                    .max(0.1);
                used.push((*anchor, distance, 1.0 / (distance * distance)));
            }
        }
        let total: f64 = used.iter().map(|u| u.2).sum();
        let estimate = (total > 0.0).then(|| {
            let x = used.iter().map(|(a, _, w)| a.x * w).sum::<f64>() / total;
            let y = used.iter().map(|(a, _, w)| a.y * w).sum::<f64>() / total;
            (used[0].0.floor_plan_id, x, y)
        });
        // With the plan's size known, refine in metres: a weighted least-squares fit of the
        // horizontal distances (Gauss-Newton from the centroid), and as accuracy the
        // weighted RMS of what remains (at least 0.5 m).
        let metres = estimate.and_then(|(plan, x, y)| {
            let (width, height) = *plan_sizes.get(&plan)?;
            let anchors: Vec<(f64, f64, f64, f64)> = used
                .iter()
                .map(|(a, d, _)| {
                    let horizontal = (d * d - GATEWAY_HEIGHT_M * GATEWAY_HEIGHT_M)
                        .max(0.01)
                        .sqrt();
                    (a.x * width, a.y * height, horizontal, 1.0 / d)
                })
                .collect();
            let (xm, ym) = least_squares(&anchors, (x * width, y * height), (width, height));
            let weights: f64 = anchors.iter().map(|a| a.3).sum();
            let residual: f64 = anchors
                .iter()
                .map(|(ax, ay, r, w)| {
                    w * (((ax - xm).powi(2) + (ay - ym).powi(2)).sqrt() - r).powi(2)
                })
                .sum::<f64>()
                / weights;
            let (x, y) = (xm / width, ym / height);
            Some((xm, ym, residual.sqrt().max(0.5), x, y))
        });
        let estimate = match metres {
            Some((_, _, _, x, y)) => estimate.map(|(plan, _, _)| (plan, x, y)),
            None => estimate,
        };
        let round = |v: f64| (v * 100.0).round() / 100.0;
        Some(TagPosition {
            tag_id,
            device_id,
            last_seen_at: self.last_seen?,
            rssi: current.map(|s| (s.ema * 10.0).round() / 10.0),
            floor_plan_id: estimate.map(|e| e.0),
            x: estimate.map(|e| e.1),
            y: estimate.map(|e| e.2),
            x_m: metres.map(|m| round(m.0)),
            y_m: metres.map(|m| round(m.1)),
            accuracy_m: metres.map(|m| round(m.2)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                },
            ),
            (
                2,
                Anchor {
                    floor_plan_id: 7,
                    x: 1.0,
                    y: 0.5,
                },
            ),
            (
                3,
                Anchor {
                    floor_plan_id: 8,
                    x: 0.5,
                    y: 0.5,
                },
            ),
        ]);
        let mut state = TagState::default();
        for i in 0..5 {
            state.hear(1, Some(-60), t(i));
            state.hear(2, Some(-75), t(i));
            state.hear(3, Some(-90), t(i));
        }
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
        // Without placed gateways there is a gateway but no x/y.
        let none = state
            .position(42, &HashMap::new(), &HashMap::new())
            .unwrap();
        assert_eq!((none.device_id, none.x), (1, None));
    }
}
