//! `/floor-plans`, including the plan image upload.

use axum::Json;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::{Change, clean, or_404, record, require};
use super::devices::DeviceRead;
use super::error::{ApiError, ApiResult, ErrorBody, FieldError};
use super::extract::{ApiPath, AuthUser, Page};
use super::openapi::{Deleted, Invalid, NotFound};
use super::resource::{Editable, Events, Listed, Resource, Tracked, find, resource_routes};
use super::validate::{Checks, patch_body};
use crate::events::EventType::{FloorPlanCreated, FloorPlanDeleted, FloorPlanUpdated};
use crate::events::{EventType, payload};
use crate::metrics::HttpRefusal;
use crate::store::devices::DeviceFilter;
use crate::store::site::{Floor, FloorPlan};

const FOREIGN_IMAGE: &str = "a /media/ image must be uploaded for this plan \
     (POST /floor-plans/{id}/image); other URLs point at images hosted elsewhere";

pub fn router(max_upload_bytes: usize) -> OpenApiRouter<AppState> {
    let (schemas, paths, upload) = routes!(upload_image);
    // Room for the multipart framing around the file itself.
    let upload = upload.layer(DefaultBodyLimit::max(max_upload_bytes + 16 * 1024));
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(devices))
        .routes((schemas, paths, upload))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct FloorPlanCreate {
    floor_id: i64,
    name: String,
    image_url: Option<String>,
    width: Option<f64>,
    height: Option<f64>,
    /// The image's physical size in metres (positions are then also given in metres).
    width_m: Option<f64>,
    height_m: Option<f64>,
    description: Option<String>,
}

patch_body! {
    pub struct FloorPlanUpdate {
        floor_id: i64,
        name: String,
        image_url: String,
        width: f64,
        height: f64,
        width_m: f64,
        height_m: f64,
        description: String,
    }
}

/// The multipart body of an image upload.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // describes the request for the OpenAPI document only
struct ImageUpload {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FloorPlanQuery {
    skip: Option<i64>,
    limit: Option<i64>,
    floor_id: Option<i64>,
}

impl Resource for FloorPlan {
    const NOT_FOUND: &'static str = "Floor plan not found";
    type Read = FloorPlan;

    async fn show(_: &AppState, rows: Vec<FloorPlan>) -> ApiResult<Vec<FloorPlan>> {
        Ok(rows)
    }
}

impl Tracked for FloorPlan {
    const EVENTS: Events = Events::new(FloorPlanCreated, FloorPlanUpdated, FloorPlanDeleted);

    fn payload(&self, _: EventType) -> Value {
        payload::floor_plan(self)
    }

    /// With its image; devices stay, unplaced.
    async fn delete(state: &AppState, p: &FloorPlan) -> ApiResult<()> {
        let images = or_404(state.store.delete_floor_plan(p.id).await, Self::NOT_FOUND)?;
        crate::media::remove_images(&state.config, &images).await;
        Ok(())
    }
}

impl Listed for FloorPlan {
    type Query = FloorPlanQuery;

    async fn rows(state: &AppState, q: FloorPlanQuery) -> ApiResult<Vec<FloorPlan>> {
        let page = Page::from_query(q.skip, q.limit, 100)?;
        Ok(state
            .store
            .list_floor_plans(q.floor_id, page.skip, page.limit)
            .await?)
    }
}

impl Editable for FloorPlan {
    type Create = FloorPlanCreate;
    type Update = FloorPlanUpdate;
    /// With the image the plan had, removed once another replaces it.
    type Draft = (FloorPlan, Option<String>);

    fn new(state: &AppState, body: FloorPlanCreate, checks: &mut Checks) -> Self::Draft {
        let new = FloorPlan {
            floor_id: body.floor_id,
            name: body.name.trim().to_string(),
            image_url: clean(body.image_url),
            width: body.width,
            height: body.height,
            width_m: body.width_m,
            height_m: body.height_m,
            description: clean(body.description),
            ..FloorPlan::default()
        };
        check(checks, &new);
        if new
            .image_url
            .as_deref()
            .is_some_and(|url| crate::media::is_ours(&state.config, url))
        {
            checks.push("image_url", "value_error", FOREIGN_IMAGE);
        }
        (new, None)
    }

    fn apply(
        state: &AppState,
        mut p: FloorPlan,
        body: FloorPlanUpdate,
        checks: &mut Checks,
    ) -> Self::Draft {
        let old_image = p.image_url.clone();
        checks.not_null("floor_id", &body.floor_id);
        checks.not_null("name", &body.name);
        body.floor_id.apply_to(&mut p.floor_id);
        body.name
            .map(|v| v.trim().to_string())
            .apply_to(&mut p.name);
        body.image_url.apply_to_option(&mut p.image_url);
        body.width.apply_to_option(&mut p.width);
        body.height.apply_to_option(&mut p.height);
        body.width_m.apply_to_option(&mut p.width_m);
        body.height_m.apply_to_option(&mut p.height_m);
        body.description.apply_to_option(&mut p.description);
        check(checks, &p);
        if p.image_url != old_image
            && p.image_url.as_deref().is_some_and(|url| {
                crate::media::is_ours(&state.config, url)
                    && !crate::media::belongs_to(&state.config, url, p.id)
            })
        {
            checks.push("image_url", "value_error", FOREIGN_IMAGE);
        }
        (p, old_image)
    }

    async fn save(state: &AppState, (p, old_image): Self::Draft) -> ApiResult<FloorPlan> {
        require::<Floor>(state, "floor_id", Some(p.floor_id)).await?;
        let p = state.store.save_floor_plan(&p).await?;
        if old_image != p.image_url {
            let released: Vec<(i64, String)> =
                old_image.into_iter().map(|url| (p.id, url)).collect();
            crate::media::remove_images(&state.config, &released).await;
        }
        Ok(p)
    }
}

resource_routes! {
    FloorPlan => FloorPlan, "floor-plans", "/floor-plans", "/floor-plans/{floor_plan_id}",
        ("floor_plan_id", "Floor plan id");
    list(AuthUser, FloorPlanQuery) "floor_plans_list", "List floor plans, by id", [Invalid];
    create(AuthUser, FloorPlanCreate, CREATED) "floor_plans_create", "Create a floor plan",
        [Invalid];
    read(AuthUser) "floor_plans_read", "Read a floor plan", [NotFound];
    update(AuthUser, put, FloorPlanUpdate) "floor_plans_update",
        "Update a floor plan (partial)", [NotFound, Invalid];
    nested(AuthUser, devices: Vec<DeviceRead> = devices_on,
        "/floor-plans/{floor_plan_id}/devices") "floor_plans_devices",
        "Devices placed on a floor plan", [NotFound];
    remove(AuthUser) "floor_plans_remove",
        "Delete a floor plan and its image; devices stay, unplaced", [Deleted, NotFound];
}

fn check(checks: &mut Checks, p: &FloorPlan) {
    checks.text("name", &p.name, 255);
    checks.max_len("image_url", p.image_url.as_deref(), 1024);
    checks.max_len("description", p.description.as_deref(), 1024);
    for (field, value) in [
        ("width", p.width),
        ("height", p.height),
        ("width_m", p.width_m),
        ("height_m", p.height_m),
    ] {
        if value.is_some_and(|v| !v.is_finite() || v <= 0.0) {
            checks.push(field, "greater_than", "must be a positive number");
        }
    }
}

async fn devices_on(state: &AppState, id: i64) -> ApiResult<Vec<DeviceRead>> {
    let filter = DeviceFilter {
        floor_plan_id: Some(id),
        ..DeviceFilter::default()
    };
    let devices = state.store.list_devices(&filter, 0, i64::MAX).await?;
    Ok(devices.iter().map(DeviceRead::from).collect())
}

/// Stores the uploaded plan image (PNG, JPEG or WebP, recognised from its bytes) under a
/// generated name and points the plan at it; width and height come from the image unless
/// the plan already has them.
#[utoipa::path(
    post,
    path = "/floor-plans/{floor_plan_id}/image",
    operation_id = "floor_plans_upload_image",
    tag = "floor-plans",
    summary = "Upload the plan image (PNG, JPEG or WebP; multipart field `file`)",
    params(("floor_plan_id" = i64, Path, description = "Floor plan id")),
    request_body(content = ImageUpload, content_type = "multipart/form-data"),
    responses(
        (status = 200, body = FloorPlan),
        (status = 400, description = "Not a PNG, JPEG or WebP image", body = ErrorBody),
        NotFound, Invalid,
        (status = 413, description = "Larger than media.max_upload_bytes", body = ErrorBody),
        (status = 507, description = "The media quota (media.quota_bytes) is used up", body = ErrorBody),
    ),
)]
async fn upload_image(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    mut multipart: Multipart,
) -> ApiResult<Json<FloorPlan>> {
    let mut plan: FloorPlan = find(&state, id).await?;
    let mut file = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() == Some("file") {
            file = Some(field.bytes().await.map_err(multipart_error)?);
            break;
        }
    }
    let Some(bytes) = file else {
        return Err(ApiError::invalid(FieldError::body(
            "file",
            "missing",
            "Field required",
        )));
    };
    if bytes.len() > state.config.media.max_upload_bytes {
        return Err(ApiError::PayloadTooLarge);
    }
    let image = crate::media::store_floor_plan_image(&state.config, id, &bytes)
        .await
        .inspect_err(|err| {
            if matches!(err, crate::media::MediaError::QuotaUsed { .. }) {
                state.metrics.http_refused(HttpRefusal::MediaQuota);
            }
        })?;
    let old_image = plan.image_url.replace(image.url);
    if plan.width.is_none() || plan.height.is_none() {
        plan.width = Some(image.width as f64);
        plan.height = Some(image.height as f64);
    }
    let plan = state.store.save_floor_plan(&plan).await?;
    let released: Vec<(i64, String)> = old_image.into_iter().map(|url| (id, url)).collect();
    crate::media::remove_images(&state.config, &released).await;
    let change = Change::new(
        EventType::FloorPlanUpdated,
        plan.id,
        payload::floor_plan(&plan),
    )
    .action("upload_image");
    record(&state, &user, change).await?;
    Ok(Json(plan))
}

fn multipart_error(err: axum::extract::multipart::MultipartError) -> ApiError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::BadRequest(format!("invalid multipart body: {}", err.body_text()))
    }
}
