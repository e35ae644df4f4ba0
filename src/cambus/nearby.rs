//! Fusion: which tagged people were near a camera when one of its events happened.
//!
//! For an event of the last [`LIVE_WINDOW`], the live positions answer: a person whose
//! estimate on the camera's plan is within `cambus.nearby_radius_m` of the camera (plans of
//! known size), or who is at the gateway nearest to the camera (plans without a size, tags
//! without an estimate). Older events (a collector catching up) are answered from the
//! presence sessions at the gateway nearest to the camera.

use chrono::{DateTime, Duration, Utc};

use crate::ingest::locate::TagPosition;
use crate::store::Store;
use crate::store::cambus::NearbyPerson;
use crate::store::devices::{BLE_GATEWAY, Device, DeviceFilter};

/// Live positions describe events at most this old.
pub const LIVE_WINDOW: Duration = Duration::seconds(30);

/// A camera's place: its plan, its position as fractions, and the plan's size in metres.
struct Spot {
    plan_id: i64,
    x: f64,
    y: f64,
    size_m: Option<(f64, f64)>,
}

pub async fn people_near(
    store: &Store,
    camera: &Device,
    positions: &[TagPosition],
    occurred_at: DateTime<Utc>,
    radius_m: f64,
    now: DateTime<Utc>,
) -> crate::store::Result<Vec<NearbyPerson>> {
    let (Some(plan_id), Some(x), Some(y)) = (camera.floor_plan_id, camera.pos_x, camera.pos_y)
    else {
        return Ok(Vec::new());
    };
    let plan = store.floor_plan(plan_id).await?;
    let spot = Spot {
        plan_id,
        x,
        y,
        size_m: plan.width_m.zip(plan.height_m),
    };
    let gateways = store
        .list_devices(
            &DeviceFilter {
                device_type: Some(BLE_GATEWAY.into()),
                floor_plan_id: Some(plan_id),
            },
            0,
            i64::MAX,
        )
        .await?;
    let nearest_gateway = nearest(&spot, &gateways);

    let mut found: Vec<(i64, Option<f64>, &'static str)> = Vec::new();
    if now - occurred_at <= LIVE_WINDOW {
        for p in positions {
            if (p.last_seen_at - occurred_at).abs() > LIVE_WINDOW {
                continue;
            }
            if let Some(hit) = live_match(&spot, p, nearest_gateway, radius_m) {
                found.push((p.tag_id, hit.0, hit.1));
            }
        }
    } else if let Some(gateway) = nearest_gateway {
        for tag_id in store
            .tags_present_at(gateway, occurred_at, LIVE_WINDOW)
            .await?
        {
            found.push((tag_id, None, "gateway"));
        }
    }

    let mut people = Vec::new();
    for (tag_id, distance_m, via) in found {
        if let Some((person_id, full_name)) = store.tag_holder(tag_id).await? {
            people.push(NearbyPerson {
                person_id,
                full_name,
                tag_id,
                distance_m: distance_m.map(|d| (d * 100.0).round() / 100.0),
                via: via.into(),
            });
        }
    }
    people.sort_by(|a, b| {
        a.distance_m
            .unwrap_or(f64::MAX)
            .total_cmp(&b.distance_m.unwrap_or(f64::MAX))
            .then(a.person_id.cmp(&b.person_id))
    });
    people.dedup_by_key(|p| p.person_id);
    Ok(people)
}

/// Whether a live position is near the camera: by distance where it can be measured,
/// else by being at the gateway nearest to the camera.
fn live_match(
    spot: &Spot,
    p: &TagPosition,
    nearest_gateway: Option<i64>,
    radius_m: f64,
) -> Option<(Option<f64>, &'static str)> {
    if let (Some((w, h)), Some(plan), Some(x), Some(y)) = (spot.size_m, p.floor_plan_id, p.x, p.y) {
        if plan != spot.plan_id {
            return None;
        }
        let d = ((x - spot.x) * w).hypot((y - spot.y) * h);
        return (d <= radius_m).then_some((Some(d), "position"));
    }
    (Some(p.device_id) == nearest_gateway).then_some((None, "gateway"))
}

/// The placed gateway closest to the camera on its plan.
fn nearest(spot: &Spot, gateways: &[Device]) -> Option<i64> {
    let (w, h) = spot.size_m.unwrap_or((1.0, 1.0));
    gateways
        .iter()
        .filter_map(|g| {
            let d = ((g.pos_x? - spot.x) * w).hypot((g.pos_y? - spot.y) * h);
            Some((g.id, d))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(tag_id: i64, device_id: i64, x: Option<f64>, y: Option<f64>) -> TagPosition {
        TagPosition {
            tag_id,
            device_id,
            last_seen_at: Utc::now(),
            rssi: Some(-60.0),
            floor_plan_id: Some(1),
            x,
            y,
            x_m: None,
            y_m: None,
            accuracy_m: None,
        }
    }

    #[test]
    fn near_by_distance_on_plans_of_known_size() {
        let spot = Spot {
            plan_id: 1,
            x: 0.5,
            y: 0.5,
            size_m: Some((20.0, 10.0)),
        };
        // 0.1 of 20 m = 2 m away: inside 5 m; 0.3 = 6 m: outside.
        let close = live_match(&spot, &position(1, 9, Some(0.6), Some(0.5)), None, 5.0);
        assert_eq!(
            close.map(|(d, via)| (d.map(f64::round), via)),
            Some((Some(2.0), "position"))
        );
        assert_eq!(
            live_match(&spot, &position(2, 9, Some(0.8), Some(0.5)), None, 5.0),
            None
        );
        let mut elsewhere = position(3, 9, Some(0.5), Some(0.5));
        elsewhere.floor_plan_id = Some(2);
        assert_eq!(live_match(&spot, &elsewhere, None, 5.0), None);
    }

    #[test]
    fn near_by_gateway_without_a_size_or_an_estimate() {
        let spot = Spot {
            plan_id: 1,
            x: 0.1,
            y: 0.1,
            size_m: None,
        };
        let gateway = |id, x, y| Device {
            id,
            pos_x: Some(x),
            pos_y: Some(y),
            ..Default::default()
        };
        let nearest_gateway = nearest(&spot, &[gateway(7, 0.9, 0.9), gateway(8, 0.2, 0.1)]);
        assert_eq!(nearest_gateway, Some(8));
        assert_eq!(
            live_match(
                &spot,
                &position(1, 8, Some(0.9), Some(0.9)),
                nearest_gateway,
                5.0
            ),
            Some((None, "gateway"))
        );
        assert_eq!(
            live_match(&spot, &position(1, 7, None, None), nearest_gateway, 5.0),
            None
        );
    }
}
