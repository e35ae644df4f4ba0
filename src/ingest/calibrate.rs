//! On-site calibration: each gateway's path-loss model fitted from the readings of a tag
//! that stood at known points, and where the locator puts those points with a given set
//! of models (the before/after error an operator is shown).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::locate::{Anchor, TagState};

/// A fitted path-loss model: rssi = rssi_at_1m − 10 · exponent · log10(distance).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub rssi_at_1m: f64,
    pub exponent: f64,
    /// Root mean square of the samples' residuals (dB).
    pub rms_db: f64,
}

/// The least-squares fit of (slant distance in metres, RSSI) samples, or `None` when the
/// distances are too alike to tell the exponent from the level (the points must be at
/// clearly different distances from the gateway).
pub fn fit_path_loss(samples: &[(f64, f64)]) -> Option<Fit> {
    // Linear in (A, n): rssi = A + n · u, u = −10 · log10(d).
    let n = samples.len() as f64;
    if samples.len() < 2 {
        return None;
    }
    let u: Vec<f64> = samples
        .iter()
        .map(|(d, _)| -10.0 * d.max(0.1).log10())
        .collect();
    let mean_u = u.iter().sum::<f64>() / n;
    let mean_r = samples.iter().map(|s| s.1).sum::<f64>() / n;
    let (mut suu, mut sur) = (0.0, 0.0);
    for (ui, (_, r)) in u.iter().zip(samples) {
        suu += (ui - mean_u).powi(2);
        sur += (ui - mean_u) * (r - mean_r);
    }
    // log10 distances spread by less than ~0.05 (12%): the slope is noise.
    if suu / n < 0.25 {
        return None;
    }
    let exponent = sur / suu;
    let rssi_at_1m = mean_r - exponent * mean_u;
    let rms_db = (u
        .iter()
        .zip(samples)
        .map(|(ui, (_, r))| (r - rssi_at_1m - exponent * ui).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    Some(Fit {
        rssi_at_1m,
        exponent,
        rms_db,
    })
}

/// Where the locator puts a tag from `readings` (gateway, RSSI, time; oldest first) with
/// the gateways' models in `anchors`: the mean of its estimates over the second half of
/// the window (metres), once the track has settled.
pub fn locate_window(
    readings: &[(i64, i32, DateTime<Utc>)],
    anchors: &HashMap<i64, Anchor>,
    plan: i64,
    size: (f64, f64),
) -> Option<(f64, f64)> {
    let plan_sizes = HashMap::from([(plan, size)]);
    let mut state = TagState::default();
    let mut estimates = Vec::new();
    let mut i = 0;
    while i < readings.len() {
        let at = readings[i].2;
        while i < readings.len() && readings[i].2 == at {
            state.hear(readings[i].0, Some(readings[i].1), at);
            i += 1;
        }
        if let Some(p) = state.position(0, anchors, &plan_sizes)
            && p.floor_plan_id == Some(plan)
            && let (Some(x), Some(y)) = (p.x_m, p.y_m)
        {
            estimates.push((x, y));
        }
    }
    let settled = &estimates[estimates.len() / 2..];
    if settled.is_empty() {
        return None;
    }
    let n = settled.len() as f64;
    Some((
        settled.iter().map(|e| e.0).sum::<f64>() / n,
        settled.iter().map(|e| e.1).sum::<f64>() / n,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_path_loss_is_recovered() {
        let samples: Vec<(f64, f64)> = [2.5, 3.0, 4.0, 6.0, 8.0]
            .iter()
            .map(|&d: &f64| (d, -62.0 - 22.0 * d.log10()))
            .collect();
        let fit = fit_path_loss(&samples).unwrap();
        assert!((fit.rssi_at_1m + 62.0).abs() < 1e-9, "{fit:?}");
        assert!((fit.exponent - 2.2).abs() < 1e-9, "{fit:?}");
        assert!(fit.rms_db < 1e-9);
    }

    #[test]
    fn one_distance_fits_nothing() {
        assert_eq!(
            fit_path_loss(&[(3.0, -70.0), (3.0, -72.0), (3.1, -71.0)]),
            None
        );
    }
}
