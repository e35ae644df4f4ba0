//! `POST /positioning/calibrations`: fits each gateway's path-loss model on site. The
//! operator stood with a tag at a few known points of a plan; from the readings stored in
//! those windows each gateway on the plan gets the `rssi_at_1m` and `path_loss_exponent`
//! that explain them best (least squares on rssi = A − 10·n·log10(d), d the slant
//! distance), and the answer shows where the locator puts the points before and after.
//! With `"apply": true` the fitted values are saved on the gateways (administrators only:
//! they move every tag's position).

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{AdminUser, ApiJson};
use super::openapi::{AdminOnly, Invalid, NotFound};
use super::resource::record_saved;
use crate::config::{PATH_LOSS_EXPONENT_RANGE, RSSI_AT_1M_RANGE};
use crate::ingest::calibrate::{fit_path_loss, locate_window};
use crate::ingest::locate::{Anchor, PathLoss};
use crate::store::StoreError;
use crate::store::devices::{Device, DeviceFilter};

/// Standing points a calibration needs at least, and takes at most.
const MIN_POINTS: usize = 3;
const MAX_POINTS: usize = 50;
/// Readings a gateway needs for a fit.
const MIN_SAMPLES: usize = 10;
/// One window is at most this long (seconds), and at most this many readings are read
/// from it.
const MAX_WINDOW_SECONDS: i64 = 3600;
const MAX_WINDOW_READINGS: i64 = 50_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(calibrate))
}

/// Where the tag stood, and when.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalibrationPoint {
    /// The point on the plan, fractions (0–1) of the image like devices' `pos_x`/`pos_y`.
    x: f64,
    y: f64,
    from_ts: DateTime<Utc>,
    to_ts: DateTime<Utc>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalibrationBody {
    /// The plan the points are on; it must have `width_m` and `height_m`.
    floor_plan_id: i64,
    /// The tag carried, by id or by MAC address (one of the two).
    tag_id: Option<i64>,
    tag_mac_address: Option<String>,
    points: Vec<CalibrationPoint>,
    /// Save the fitted values on the gateways (default false: only show them).
    #[serde(default)]
    apply: bool,
}

/// One gateway's fit. `rssi_at_1m`/`path_loss_exponent` are null when its readings do
/// not determine them (`reason` says why); the gateway then keeps its values.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GatewayCalibration {
    device_id: i64,
    name: String,
    samples: usize,
    /// The model in use before (the gateway's own values, or the site's).
    rssi_at_1m_before: f64,
    path_loss_exponent_before: f64,
    rssi_at_1m: Option<f64>,
    path_loss_exponent: Option<f64>,
    /// Root mean square of the fit's residuals, dB.
    residual_db: Option<f64>,
    reason: Option<String>,
}

/// Where the locator puts one point with the models before and after the fit (metres from
/// the point; null when the tag was not heard enough there).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PointCalibration {
    x: f64,
    y: f64,
    samples: usize,
    error_before_m: Option<f64>,
    error_after_m: Option<f64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CalibrationRead {
    floor_plan_id: i64,
    tag_id: i64,
    /// Whether the fitted values were saved on the gateways.
    applied: bool,
    gateways: Vec<GatewayCalibration>,
    points: Vec<PointCalibration>,
    /// The mean of the points' errors, before and after.
    mean_error_before_m: Option<f64>,
    mean_error_after_m: Option<f64>,
}

#[utoipa::path(
    post,
    path = "/positioning/calibrations",
    operation_id = "positioning_calibrate",
    tag = "positioning",
    summary = "Fit the gateways' path-loss models from a tag that stood at known points",
    request_body = CalibrationBody,
    responses((status = 200, body = CalibrationRead), AdminOnly, NotFound, Invalid),
)]
async fn calibrate(
    State(state): State<AppState>,
    AdminUser(user): AdminUser,
    ApiJson(body): ApiJson<CalibrationBody>,
) -> ApiResult<Json<CalibrationRead>> {
    check(&body)?;
    let plan = match state.store.floor_plan(body.floor_plan_id).await {
        Err(StoreError::NotFound) => return Err(ApiError::not_found("Floor plan not found")),
        other => other?,
    };
    let (Some(width), Some(height)) = (plan.width_m, plan.height_m) else {
        return Err(invalid(
            "floor_plan_id",
            "the plan needs width_m and height_m: calibration works in metres",
        ));
    };
    let tag = match (body.tag_id, &body.tag_mac_address) {
        (Some(id), _) => state.store.tag(id).await,
        (None, Some(mac)) => match crate::mac::canonical(mac) {
            Some(mac) => state.store.tag_by_mac(&mac).await,
            None => return Err(invalid("tag_mac_address", "not a MAC address")),
        },
        (None, None) => unreachable!("checked"),
    };
    let tag = match tag {
        Err(StoreError::NotFound) => return Err(ApiError::not_found("Tag not found")),
        other => other?,
    };
    let site = &state.config.positioning;
    let gateways: Vec<Device> = state
        .store
        .list_devices(
            &DeviceFilter {
                device_type: Some("BLE_GATEWAY".into()),
                floor_plan_id: Some(plan.id),
            },
            0,
            i64::MAX,
        )
        .await?
        .into_iter()
        .filter(|d| d.pos_x.is_some() && d.pos_y.is_some())
        .collect();
    if gateways.is_empty() {
        return Err(invalid(
            "floor_plan_id",
            "no gateway is placed on this plan",
        ));
    }
    let before: HashMap<i64, Anchor> = gateways
        .iter()
        .map(|g| {
            let path_loss = PathLoss {
                rssi_at_1m: g.rssi_at_1m.unwrap_or(site.rssi_at_1m),
                exponent: g.path_loss_exponent.unwrap_or(site.path_loss_exponent),
                height_m: site.gateway_height_m,
            };
            let anchor = Anchor {
                floor_plan_id: plan.id,
                x: g.pos_x.unwrap_or_default(),
                y: g.pos_y.unwrap_or_default(),
                path_loss,
            };
            (g.id, anchor)
        })
        .collect();

    // Each point's readings, and per gateway the (slant distance, RSSI) samples.
    let mut windows = Vec::with_capacity(body.points.len());
    let mut samples: HashMap<i64, Vec<(f64, f64)>> = HashMap::new();
    for point in &body.points {
        let readings: Vec<(i64, i32, DateTime<Utc>)> = state
            .store
            .tag_readings_between(tag.id, point.from_ts, point.to_ts, MAX_WINDOW_READINGS)
            .await?
            .into_iter()
            .filter(|r| before.contains_key(&r.device_id))
            .filter_map(|r| Some((r.device_id, r.rssi?, r.created_at)))
            .collect();
        let (px, py) = (point.x * width, point.y * height);
        for (gateway, rssi, _) in &readings {
            let anchor = &before[gateway];
            let d = ((anchor.x * width - px).powi(2)
                + (anchor.y * height - py).powi(2)
                + site.gateway_height_m.powi(2))
            .sqrt();
            samples
                .entry(*gateway)
                .or_default()
                .push((d, f64::from(*rssi)));
        }
        windows.push(readings);
    }

    let mut after = before.clone();
    let mut results = Vec::with_capacity(gateways.len());
    for g in &gateways {
        let own = samples.get(&g.id).map_or(&[][..], Vec::as_slice);
        let anchor = &before[&g.id];
        let fit = if own.len() < MIN_SAMPLES {
            Err(format!(
                "{} readings in the windows; at least {MIN_SAMPLES} are needed",
                own.len()
            ))
        } else {
            match fit_path_loss(own) {
                None => Err(
                    "the points are at about the same distance from this gateway: \
                             stand at points nearer and farther from it"
                        .to_string(),
                ),
                Some(fit)
                    if RSSI_AT_1M_RANGE.contains(&fit.rssi_at_1m)
                        && PATH_LOSS_EXPONENT_RANGE.contains(&fit.exponent) =>
                {
                    Ok(fit)
                }
                Some(fit) => Err(format!(
                    "the fit ({:.1} dBm at 1 m, exponent {:.2}) is outside the plausible range",
                    fit.rssi_at_1m, fit.exponent
                )),
            }
        };
        if let Ok(fit) = &fit {
            let path_loss = &mut after.get_mut(&g.id).expect("every gateway").path_loss;
            path_loss.rssi_at_1m = fit.rssi_at_1m;
            path_loss.exponent = fit.exponent;
        }
        let round = |v: f64, scale: f64| (v * scale).round() / scale;
        results.push(GatewayCalibration {
            device_id: g.id,
            name: g.name.clone(),
            samples: own.len(),
            rssi_at_1m_before: anchor.path_loss.rssi_at_1m,
            path_loss_exponent_before: anchor.path_loss.exponent,
            rssi_at_1m: fit.as_ref().ok().map(|f| round(f.rssi_at_1m, 10.0)),
            path_loss_exponent: fit.as_ref().ok().map(|f| round(f.exponent, 100.0)),
            residual_db: fit.as_ref().ok().map(|f| round(f.rms_db, 10.0)),
            reason: fit.err(),
        });
    }
    if results.iter().all(|r| r.rssi_at_1m.is_none()) {
        return Err(ApiError::Validation(
            results
                .iter()
                .map(|r| {
                    FieldError::body(
                        "points",
                        "too_few_samples",
                        format!(
                            "gateway {} ({}): {}",
                            r.device_id,
                            r.name,
                            r.reason.as_deref().unwrap_or_default()
                        ),
                    )
                })
                .collect(),
        ));
    }

    let error = |anchors: &HashMap<i64, Anchor>, readings: &[_], point: &CalibrationPoint| {
        locate_window(readings, anchors, plan.id, (width, height)).map(|(x, y)| {
            let e = ((x - point.x * width).powi(2) + (y - point.y * height).powi(2)).sqrt();
            (e * 100.0).round() / 100.0
        })
    };
    let points: Vec<PointCalibration> = body
        .points
        .iter()
        .zip(&windows)
        .map(|(point, readings)| PointCalibration {
            x: point.x,
            y: point.y,
            samples: readings.len(),
            error_before_m: error(&before, readings, point),
            error_after_m: error(&after, readings, point),
        })
        .collect();
    let mean = |errors: Vec<Option<f64>>| {
        let known: Vec<f64> = errors.into_iter().flatten().collect();
        (!known.is_empty())
            .then(|| (known.iter().sum::<f64>() / known.len() as f64 * 100.0).round() / 100.0)
    };

    if body.apply {
        for (g, result) in gateways.iter().zip(&results) {
            let (Some(rssi_at_1m), Some(exponent)) = (result.rssi_at_1m, result.path_loss_exponent)
            else {
                continue;
            };
            let mut device = g.clone();
            device.rssi_at_1m = Some(rssi_at_1m);
            device.path_loss_exponent = Some(exponent);
            let saved = state.store.save_device(&device).await?;
            record_saved(&state, &user, &saved, false).await?;
        }
    }
    Ok(Json(CalibrationRead {
        floor_plan_id: plan.id,
        tag_id: tag.id,
        applied: body.apply,
        mean_error_before_m: mean(points.iter().map(|p| p.error_before_m).collect()),
        mean_error_after_m: mean(points.iter().map(|p| p.error_after_m).collect()),
        gateways: results,
        points,
    }))
}

/// The body's own problems, all at once.
fn check(body: &CalibrationBody) -> ApiResult<()> {
    let mut problems = Vec::new();
    let mut problem = |loc: &[&str], kind, msg: String| {
        problems.push(FieldError::new(kind, loc, msg));
    };
    if body.tag_id.is_some() == body.tag_mac_address.is_some() {
        problem(
            &["body", "tag_id"],
            "missing",
            "give tag_id or tag_mac_address (one of the two)".into(),
        );
    }
    if !(MIN_POINTS..=MAX_POINTS).contains(&body.points.len()) {
        problem(
            &["body", "points"],
            "too_few_points",
            format!(
                "{MIN_POINTS} to {MAX_POINTS} points, spread over the plan (got {})",
                body.points.len()
            ),
        );
    }
    let now = Utc::now();
    for (i, point) in body.points.iter().enumerate() {
        let index = i.to_string();
        let at = |field: &str| ["body", "points", index.as_str(), field].map(str::to_string);
        let mut field = |field: &str, kind, msg: &str| {
            let loc = at(field);
            let loc: Vec<&str> = loc.iter().map(String::as_str).collect();
            problem(&loc, kind, msg.to_string());
        };
        if !(0.0..=1.0).contains(&point.x) {
            field(
                "x",
                "out_of_range",
                "a fraction of the plan's width (0 to 1)",
            );
        }
        if !(0.0..=1.0).contains(&point.y) {
            field(
                "y",
                "out_of_range",
                "a fraction of the plan's height (0 to 1)",
            );
        }
        if point.to_ts <= point.from_ts {
            field("to_ts", "invalid", "the window ends after it starts");
        } else if (point.to_ts - point.from_ts).num_seconds() > MAX_WINDOW_SECONDS {
            field("to_ts", "invalid", "a window is at most an hour long");
        }
        if point.to_ts > now {
            field(
                "to_ts",
                "in_the_future",
                "the window has not ended yet: calibrate once the tag has stood there",
            );
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(problems))
    }
}

fn invalid(field: &str, msg: &str) -> ApiError {
    ApiError::invalid(FieldError::body(field, "invalid", msg))
}
