//! `/webhooks`: outgoing webhook subscriptions, their delivery log, re-sends and test
//! events (administrators only: a subscription can receive every event of the site).
//!
//! Differences from the original, on purpose: the routes need an administrator's token
//! (they were open); the secret is write-only — generated when absent and shown once, in
//! the answer that set it — and sealed at rest; `event_types` may name several types;
//! URLs must be http(s) and may not reach private addresses unless
//! `webhooks.allow_private`; deliveries are durable, retried and logged.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::or_404;
use super::error::ApiResult;
use super::extract::{AdminUser, ApiJson, ApiPath, ApiQuery, Page, PageQuery};
use super::openapi::{AdminOnly, Invalid, NotFound};
use super::resource::{
    self, Events, Listed, Resource, Tracked, find, record_saved, resource_routes,
};
use super::validate::{Checks, Patch, patch_body};
use crate::events::{Event, EventType, payload};
use crate::store::webhooks::{DELIVERED, Delivery, FAILED, PENDING, Subscription};
use crate::webhooks::guard;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(event_types))
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(deliveries))
        .routes(routes!(resend))
        .routes(routes!(send_test))
        .routes(routes!(resume))
}

/// A subscription as the API shows it. `secret_token` only in the answer that set it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookRead {
    id: i64,
    name: String,
    url: String,
    secret_token: Option<String>,
    has_secret: bool,
    /// The original's single type filter; null: none.
    event_type_filter: Option<String>,
    /// The types delivered; null: every type.
    event_types: Option<Vec<String>>,
    is_active: bool,
    /// Set when deliveries kept failing for `webhooks.pause_after_hours`: nothing is sent
    /// (events are still queued) until `POST /webhooks/{id}/resume`.
    paused_at: Option<DateTime<Utc>>,
    pause_reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl WebhookRead {
    fn new(s: &Subscription, secret_token: Option<String>) -> Self {
        WebhookRead {
            id: s.id,
            name: s.name.clone(),
            url: s.url.clone(),
            secret_token,
            has_secret: s.secret_token.as_deref().is_some_and(|t| !t.is_empty()),
            event_type_filter: s.event_type_filter.clone(),
            event_types: s.event_types.as_deref().map(|framed| {
                framed
                    .split(',')
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect()
            }),
            is_active: s.is_active,
            paused_at: s.paused_at,
            pause_reason: s.pause_reason.clone(),
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

impl Resource for Subscription {
    const NOT_FOUND: &'static str = "Webhook not found";
    type Read = WebhookRead;

    async fn show(_: &AppState, rows: Vec<Subscription>) -> ApiResult<Vec<WebhookRead>> {
        Ok(rows.iter().map(|s| WebhookRead::new(s, None)).collect())
    }
}

impl Listed for Subscription {
    type Query = PageQuery;

    async fn rows(state: &AppState, q: PageQuery) -> ApiResult<Vec<Subscription>> {
        resource::page(state, q).await
    }
}

impl Tracked for Subscription {
    const EVENTS: Events = Events::new(
        EventType::WebhookCreated,
        EventType::WebhookUpdated,
        EventType::WebhookDeleted,
    );

    fn payload(&self, _: EventType) -> Value {
        payload::webhook(self)
    }
}

resource_routes! {
    Subscription => WebhookRead, "webhooks", "/webhooks", "/webhooks/{webhook_id}",
        ("webhook_id", "Webhook id");
    list(AdminUser, PageQuery) "webhooks_list", "List webhook subscriptions, by id",
        [AdminOnly, Invalid];
    read(AdminUser) "webhooks_read", "Read a webhook subscription (never its secret)",
        [AdminOnly, NotFound];
    remove(AdminUser) "webhooks_remove",
        "Delete a webhook subscription with its delivery log",
        [(status = 204, description = "Deleted"), AdminOnly, NotFound];
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct WebhookCreate {
    name: String,
    /// http or https.
    url: String,
    /// The HMAC key (16 to 255 characters); generated, and returned once, when absent.
    secret_token: Option<String>,
    /// The original's single type filter.
    event_type_filter: Option<String>,
    /// Types to deliver; absent or null: every type.
    event_types: Option<Vec<String>>,
    #[serde(default = "active")]
    is_active: bool,
}

fn active() -> bool {
    true
}

patch_body! {
    struct WebhookUpdate {
        name: String,
        url: String,
        /// A new key (returned once); null removes it.
        secret_token: String,
        event_type_filter: String,
        event_types: Vec<String>,
        is_active: bool,
    }
}

async fn check(state: &AppState, checks: &mut Checks, s: &Subscription) {
    checks.text("name", &s.name, 255);
    checks.max_len("url", Some(&s.url), 1024);
    let allow_private = state.config.webhooks.allow_private;
    let checked = match guard::check_url(&s.url, allow_private) {
        Ok(url) => guard::check_resolved(&url, allow_private).await,
        Err(err) => Err(err),
    };
    if let Err(err) = checked {
        checks.push("url", "value_error", err.to_string());
    }
    if let Some(t) = &s.event_type_filter
        && !webhook_type(t)
    {
        checks.push("event_type_filter", "value_error", unknown_type(t));
    }
}

/// The comma-framed list of `types`, or the 422 that names the first unknown one.
fn frame_types(checks: &mut Checks, types: Option<Vec<String>>) -> Option<String> {
    let types = types?;
    let mut names = Vec::new();
    for t in &types {
        match EventType::parse(t.trim()).filter(|t| t.goes_to_webhooks()) {
            Some(t) if !names.contains(&t.as_str()) => names.push(t.as_str()),
            Some(_) => {}
            None => checks.push("event_types", "value_error", unknown_type(t)),
        }
    }
    if names.is_empty() && types.is_empty() {
        checks.push(
            "event_types",
            "value_error",
            "name at least one type, or send null for every type",
        );
    }
    Some(format!(",{},", names.join(",")))
}

fn webhook_type(name: &str) -> bool {
    EventType::parse(name).is_some_and(|t| t.goes_to_webhooks() && t.as_str() == name)
}

fn unknown_type(name: &str) -> String {
    format!("unknown event type '{name}'; GET /webhooks/event-types lists them")
}

fn check_secret(checks: &mut Checks, secret: &str) {
    if !(16..=255).contains(&secret.chars().count()) {
        checks.push(
            "secret_token",
            "string_length",
            "must have between 16 and 255 characters",
        );
    }
}

/// One entry of `GET /webhooks/event-types`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct EventTypeInfo {
    event_type: &'static str,
    /// What the event is about and what happened to it.
    label: String,
    description: String,
    /// A body as receivers get it: the envelope with a payload of this type's shape
    /// (null where it is built at the source).
    sample_payload: Value,
}

#[utoipa::path(
    get,
    path = "/webhooks/event-types",
    operation_id = "webhooks_event_types",
    tag = "webhooks",
    summary = "Every event type a subscription may ask for, with the body receivers get",
    responses((status = 200, body = Vec<EventTypeInfo>), AdminOnly),
)]
async fn event_types(_admin: AdminUser) -> Json<Vec<EventTypeInfo>> {
    let types = EventType::ALL.iter().filter(|t| t.goes_to_webhooks());
    Json(
        types
            .map(|&t| EventTypeInfo {
                event_type: t.as_str(),
                label: format!("{} {}", t.entity().replace('_', " "), t.verb()),
                description: format!(
                    "Sent when a {} is {}d",
                    t.entity().replace('_', " "),
                    t.verb().trim_end_matches('e')
                ),
                sample_payload: json!({
                    "event_type": t,
                    "timestamp": "2026-01-01T00:00:00.000000+00:00",
                    "payload": payload::sample(t),
                }),
            })
            .collect(),
    )
}

#[utoipa::path(
    post,
    path = "/webhooks",
    operation_id = "webhooks_create",
    tag = "webhooks",
    summary = "Subscribe a URL to events; the answer carries the secret, once",
    request_body = WebhookCreate,
    responses((status = 201, body = WebhookRead), AdminOnly, Invalid),
)]
async fn create(
    State(state): State<AppState>,
    AdminUser(user): AdminUser,
    ApiJson(body): ApiJson<WebhookCreate>,
) -> ApiResult<(StatusCode, Json<WebhookRead>)> {
    let mut checks = Checks::new();
    let secret = body
        .secret_token
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| crate::auth::random_secret(32));
    check_secret(&mut checks, &secret);
    let new = Subscription {
        name: body.name.trim().to_string(),
        url: body.url.trim().to_string(),
        secret_token: Some(state.secrets.seal(&secret)),
        event_type_filter: body.event_type_filter.filter(|t| !t.trim().is_empty()),
        event_types: frame_types(&mut checks, body.event_types),
        is_active: body.is_active,
        ..Subscription::default()
    };
    check(&state, &mut checks, &new).await;
    checks.finish()?;
    let saved = state.store.save_webhook_subscription(&new).await?;
    record_saved(&state, &user, &saved, true).await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookRead::new(&saved, Some(secret))),
    ))
}

#[utoipa::path(
    put,
    path = "/webhooks/{webhook_id}",
    operation_id = "webhooks_update",
    tag = "webhooks",
    summary = "Update a webhook subscription (partial); a new secret is returned once",
    params(("webhook_id" = i64, Path, description = "Webhook id")),
    request_body = WebhookUpdate,
    responses((status = 200, body = WebhookRead), AdminOnly, NotFound, Invalid),
)]
async fn update(
    State(state): State<AppState>,
    AdminUser(user): AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<WebhookUpdate>,
) -> ApiResult<Json<WebhookRead>> {
    let mut s: Subscription = find(&state, id).await?;
    let mut checks = Checks::new();
    checks.not_null("name", &body.name);
    checks.not_null("url", &body.url);
    checks.not_null("is_active", &body.is_active);
    body.name.trimmed().apply_to(&mut s.name);
    body.url.trimmed().apply_to(&mut s.url);
    body.is_active.apply_to(&mut s.is_active);
    body.event_type_filter
        .trimmed()
        .apply_to_option(&mut s.event_type_filter);
    match body.event_types {
        Patch::Absent => {}
        Patch::Null => s.event_types = None,
        Patch::Value(types) => s.event_types = frame_types(&mut checks, Some(types)),
    }
    let new_secret = match body.secret_token {
        Patch::Absent => None,
        Patch::Null => {
            s.secret_token = None;
            None
        }
        Patch::Value(secret) => {
            let secret = secret.trim().to_string();
            check_secret(&mut checks, &secret);
            s.secret_token = Some(state.secrets.seal(&secret));
            Some(secret)
        }
    };
    check(&state, &mut checks, &s).await;
    checks.finish()?;
    let saved = state.store.save_webhook_subscription(&s).await?;
    record_saved(&state, &user, &saved, false).await?;
    Ok(Json(WebhookRead::new(&saved, new_secret)))
}

/// One delivery as the log shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct DeliveryRead {
    id: i64,
    webhook_id: i64,
    /// The `X-SV-Delivery` header.
    delivery_id: String,
    event_type: String,
    /// PENDING, DELIVERED or FAILED (given up after `webhooks.retry_hours`).
    status: String,
    attempts: i32,
    /// When it is tried next (PENDING).
    next_attempt_at: Option<DateTime<Utc>>,
    last_status_code: Option<i32>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
    /// The body as sent.
    body: Value,
}

impl From<Delivery> for DeliveryRead {
    fn from(d: Delivery) -> Self {
        DeliveryRead {
            id: d.id,
            webhook_id: d.subscription_id,
            delivery_id: d.delivery_id,
            event_type: d.event_type,
            next_attempt_at: (d.status == PENDING).then_some(d.next_attempt_at),
            status: d.status,
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
            body: serde_json::from_str(&d.body).unwrap_or(Value::String(d.body)),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct DeliveryQuery {
    /// PENDING, DELIVERED or FAILED.
    status: Option<String>,
    skip: Option<i64>,
    limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/webhooks/{webhook_id}/deliveries",
    operation_id = "webhooks_deliveries",
    tag = "webhooks",
    summary = "A subscription's deliveries, newest first: status, attempts, last error, next try",
    params(("webhook_id" = i64, Path, description = "Webhook id"), DeliveryQuery),
    responses((status = 200, body = Vec<DeliveryRead>), AdminOnly, NotFound, Invalid),
)]
async fn deliveries(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<DeliveryQuery>,
) -> ApiResult<Json<Vec<DeliveryRead>>> {
    let page = Page::from_query(q.skip, q.limit, 100)?;
    let status = q.status.map(|s| s.trim().to_ascii_uppercase());
    if let Some(s) = &status {
        let mut checks = Checks::new();
        checks.one_of("status", s, &[PENDING, DELIVERED, FAILED]);
        checks.finish()?;
    }
    find::<Subscription>(&state, id).await?;
    let rows = state
        .store
        .webhook_deliveries(id, status.as_deref(), page.skip, page.limit)
        .await?;
    Ok(Json(rows.into_iter().map(DeliveryRead::from).collect()))
}

#[utoipa::path(
    post,
    path = "/webhooks/{webhook_id}/deliveries/{delivery_id}/resend",
    operation_id = "webhooks_resend",
    tag = "webhooks",
    summary = "Send a delivery again, with a new delivery id, after the subscription's pending ones",
    params(
        ("webhook_id" = i64, Path, description = "Webhook id"),
        ("delivery_id" = i64, Path, description = "Delivery id (the log's `id`)"),
    ),
    responses((status = 202, body = DeliveryRead), AdminOnly, NotFound),
)]
async fn resend(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiPath((id, delivery_id)): ApiPath<(i64, i64)>,
) -> ApiResult<(StatusCode, Json<DeliveryRead>)> {
    find::<Subscription>(&state, id).await?;
    let original: Delivery = or_404(
        state.store.fetch_by_id(delivery_id).await,
        "Delivery not found",
    )?;
    if original.subscription_id != id {
        return Err(super::error::ApiError::not_found("Delivery not found"));
    }
    let queued = state
        .outbox
        .queue(id, &original.event_type, &original.body)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(queued.into())))
}

#[utoipa::path(
    post,
    path = "/webhooks/{webhook_id}/test",
    operation_id = "webhooks_test",
    tag = "webhooks",
    summary = "Send a WEBHOOK_TEST event to this subscription alone",
    params(("webhook_id" = i64, Path, description = "Webhook id")),
    responses((status = 202, body = DeliveryRead), AdminOnly, NotFound),
)]
async fn send_test(
    State(state): State<AppState>,
    AdminUser(user): AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<(StatusCode, Json<DeliveryRead>)> {
    let s: Subscription = find(&state, id).await?;
    let event = Event::now(
        EventType::WebhookTest,
        Some(user.id),
        json!({"webhook_id": s.id, "message": "A test event from SecurityVision"}),
    );
    let queued = state
        .outbox
        .queue(
            id,
            event.event_type.as_str(),
            &crate::webhooks::body(&event),
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(queued.into())))
}

#[utoipa::path(
    post,
    path = "/webhooks/{webhook_id}/resume",
    operation_id = "webhooks_resume",
    tag = "webhooks",
    summary = "Resume a paused subscription: its queued deliveries are sent again, in order",
    params(("webhook_id" = i64, Path, description = "Webhook id")),
    responses((status = 200, body = WebhookRead), AdminOnly, NotFound),
)]
async fn resume(
    State(state): State<AppState>,
    AdminUser(user): AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<WebhookRead>> {
    find::<Subscription>(&state, id).await?;
    let resumed = state.store.pause_webhook_subscription(id, None).await?;
    state.outbox.wake();
    record_saved(&state, &user, &resumed, false).await?;
    Ok(Json(WebhookRead::new(&resumed, None)))
}
