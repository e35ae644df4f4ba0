//! Who may call what: every operation of the OpenAPI document, called without a token, with
//! an expired token, with the token of a deactivated administrator, as OPERATOR and as ADMIN.
//! The expected access is written once per operation in [`ACCESS`]; an operation missing from
//! the table (a new route) fails the test until someone decides who may call it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestApp, backend_tests, mint_token};
use crate::openapi::fill_path_ids;

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// No token needed (login, health, signed inbound webhooks).
    Public,
    /// Any active signed-in user, OPERATOR included.
    User,
    /// Administrators only: an OPERATOR gets 403 (`users_update`: except on their own
    /// account, not exercised here).
    Admin,
    /// Carries its caller's own signature instead of a token (Chatwoot's inbound webhook):
    /// refused to every token of ours, and to everyone while no secret is configured.
    Signed,
}

use Access::{Admin, Public, Signed, User};

/// Who may call each operation, by `operationId`.
const ACCESS: &[(&str, Access)] = &[
    ("alert_events_ack", User),
    ("alert_events_list", User),
    ("alert_events_read", User),
    ("alert_events_resolve", User),
    ("alert_rules_create", User),
    ("alert_rules_list", User),
    ("alert_rules_read", User),
    ("alert_rules_remove", User),
    ("alert_rules_update", User),
    ("auth_change_password", User),
    ("auth_login", Public),
    ("auth_me", User),
    ("auth_signup", Public),
    ("buildings_by_code", User),
    ("buildings_create", User),
    ("buildings_floor_plans", User),
    ("buildings_list", User),
    ("buildings_read", User),
    ("buildings_remove", User),
    ("buildings_update", User),
    ("camera_groups_create", User),
    ("camera_groups_list", User),
    ("camera_groups_read", User),
    ("camera_groups_remove", User),
    ("camera_groups_update", User),
    ("cameras_collectors", User),
    ("cameras_create_event", User),
    ("cameras_list_events", User),
    ("cameras_published_info", User),
    ("cameras_uplink", Admin),
    ("chatwoot_status", Admin),
    ("chatwoot_webhook", Signed),
    ("collection_logs_create", Admin),
    ("collection_logs_list", User),
    ("collection_logs_read", User),
    ("collection_logs_remove", Admin),
    ("collection_logs_update", Admin),
    ("dashboard_summary", User),
    ("devices_camera_status", User),
    ("devices_create", User),
    ("devices_create_camera", User),
    ("devices_gateway_status", User),
    ("devices_list", User),
    ("devices_list_cameras", User),
    ("devices_list_gateways", User),
    ("devices_read", User),
    ("devices_remove", User),
    ("devices_remove_gateway", User),
    ("devices_remove_gateway_by_mac", User),
    ("devices_set_position", User),
    ("devices_status", User),
    ("devices_topics", User),
    ("devices_update", User),
    ("devices_update_camera", User),
    ("floor_plans_create", User),
    ("floor_plans_devices", User),
    ("floor_plans_heatmap", User),
    ("floor_plans_list", User),
    ("floor_plans_read", User),
    ("floor_plans_remove", User),
    ("floor_plans_update", User),
    ("floor_plans_upload_image", User),
    ("floor_plans_zones", User),
    ("floors_create", User),
    ("floors_list", User),
    ("floors_read", User),
    ("floors_remove", User),
    ("floors_update", User),
    ("health_health", Public),
    ("incident_rules_create", User),
    ("incident_rules_list", User),
    ("incident_rules_read", User),
    ("incident_rules_remove", User),
    ("incident_rules_update", User),
    ("incidents_attach", User),
    ("incidents_create", User),
    ("incidents_from_device_event", User),
    ("incidents_from_event", User),
    ("incidents_list", User),
    ("incidents_messages", User),
    ("incidents_messages_poll", User),
    ("incidents_my", User),
    ("incidents_post_message", User),
    ("incidents_read", User),
    ("incidents_update", User),
    ("mqtt_credentials_create", Admin),
    ("mqtt_credentials_list", Admin),
    ("mqtt_credentials_read", Admin),
    ("mqtt_credentials_remove", Admin),
    ("mqtt_credentials_rotate", Admin),
    ("mqtt_credentials_update", Admin),
    ("people_create", User),
    ("people_current_location", User),
    ("people_list", User),
    ("people_read", User),
    ("people_remove", User),
    ("people_update", User),
    ("person_groups_create", User),
    ("person_groups_list", User),
    ("person_groups_members", User),
    ("person_groups_read", User),
    ("person_groups_remove", User),
    ("person_groups_set_members", User),
    ("person_groups_update", User),
    ("person_groups_with_members", User),
    ("positioning_calibrate", Admin),
    ("positions_by_device", User),
    ("positions_current", User),
    ("positions_history", User),
    ("stream_events", User),
    ("reports_building_alerts_summary", User),
    ("reports_building_calendar", User),
    ("reports_building_summary", User),
    ("reports_building_time_of_day", User),
    ("reports_dwell_sessions", User),
    ("reports_gateway_alerts_summary", User),
    ("reports_gateway_concurrency", User),
    ("reports_gateway_occupancy", User),
    ("reports_gateway_time_of_day", User),
    ("reports_gateways_usage_summary", User),
    ("reports_overview", User),
    ("reports_person_alerts", User),
    ("reports_person_calendar", User),
    ("reports_person_day_of_week", User),
    ("reports_person_group_summary", User),
    ("reports_person_hour_by_gateway", User),
    ("reports_person_hour_of_day", User),
    ("reports_person_summary", User),
    ("reports_person_timeline", User),
    ("support_groups_create", Admin),
    ("support_groups_list", Admin),
    ("support_groups_read", Admin),
    ("support_groups_remove", Admin),
    ("support_groups_update", Admin),
    ("tags_by_mac", User),
    ("tags_create", User),
    ("tags_list", User),
    ("tags_read", User),
    ("tags_remove", User),
    ("tags_unknown", User),
    ("tags_update", User),
    ("users_create", Admin),
    ("users_list", Admin),
    ("users_read", Admin),
    ("users_remove", Admin),
    ("users_unlock", Admin),
    ("users_update", Admin),
    ("webhooks_create", Admin),
    ("webhooks_deliveries", Admin),
    ("webhooks_event_types", Admin),
    ("webhooks_list", Admin),
    ("webhooks_read", Admin),
    ("webhooks_remove", Admin),
    ("webhooks_resend", Admin),
    ("webhooks_resume", Admin),
    ("webhooks_test", Admin),
    ("webhooks_update", Admin),
    ("zones_create", Admin),
    ("zones_list", User),
    ("zones_read", User),
    ("zones_remove", Admin),
    ("zones_update", Admin),
];

/// The id every path parameter gets: no such row, so that an allowed call changes nothing.
const MISSING_ID: &str = "999999";

/// One call's status, without waiting for the body (live streams never end).
async fn status(app: &TestApp, method: &Method, path: &str, token: Option<&str>) -> StatusCode {
    let mut request = app
        .client
        .request(method.clone(), app.url(path))
        .timeout(Duration::from_secs(10));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if ![Method::GET, Method::DELETE, Method::HEAD].contains(method) {
        request = request.json(&json!({}));
    }
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
        .status()
}

fn now() -> (i64, i64) {
    let now = chrono::Utc::now();
    (now.timestamp(), now.timestamp_millis())
}

/// A valid token of `user_id`, issued now (so that a logout earlier in the run does not void it).
fn fresh_token(secret: &[u8], user_id: i64, role: &str) -> String {
    let (secs, millis) = now();
    mint_token(
        secret,
        json!({"sub": user_id.to_string(), "role": role, "iat": secs, "iat_ms": millis, "exp": secs + 600}),
    )
}

backend_tests! {
    async fn every_operation_answers_each_kind_of_credential_as_the_table_says(backend: Backend) {
        let app = TestApp::start(backend).await;
        let secret = std::fs::read_to_string(app.data_dir().join("jwt-secret")).unwrap();
        let secret = secret.trim().as_bytes();
        let root = app.admin_token().await;
        let (operator, _) = app.user_token(&root, "operator@example.com", "OPERATOR").await;
        let (admin, _) = app.user_token(&root, "admin2@example.com", "ADMIN").await;
        // A token the user had before being deactivated.
        let (gone, deactivated) = app.user_token(&root, "gone@example.com", "ADMIN").await;
        let (status_code, value) = app.call(Method::PATCH, &format!("/api/v1/users/{gone}"), Some(&root), Some(json!({"is_active": false}))).await;
        assert_eq!(status_code, StatusCode::OK, "{value}");
        let (secs, millis) = now();
        let expired = mint_token(secret, json!({"sub": admin.to_string(), "role": "ADMIN", "iat": secs - 7200, "iat_ms": (millis - 7_200_000), "exp": secs - 3600}));

        let doc: Value = app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
        let table: BTreeMap<&str, Access> = ACCESS.iter().copied().collect();
        let mut operations = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let Ok(method) = method.to_uppercase().parse::<Method>() else { continue };
                let concrete = path.replace("{mac}", "AABBCCDDEEFF").replace("{mac_address}", "AABBCCDDEEFF").replace("{code}", "X");
                operations.push((op["operationId"].as_str().unwrap().to_string(), method, fill_path_ids(&concrete, MISSING_ID)));
            }
        }
        // Session-ending calls last, so that nothing before them runs on a voided session.
        operations.sort_by_key(|(id, ..)| id.contains("logout"));

        let documented: BTreeSet<&str> = operations.iter().map(|(id, ..)| id.as_str()).collect();
        let missing: Vec<_> = documented.iter().filter(|id| !table.contains_key(*id)).collect();
        assert!(missing.is_empty(), "operations without an access rule in ACCESS: {missing:?}");
        let stale: Vec<_> = table.keys().filter(|id| !documented.contains(*id)).collect();
        assert!(stale.is_empty(), "rules for operations that no longer exist: {stale:?}");

        let refused = [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN];
        for (id, method, path) in &operations {
            let call = format!("{id}: {method} {path}");
            let anonymous = status(&app, method, path, None).await;
            let with_expired = status(&app, method, path, Some(&expired)).await;
            let with_deactivated = status(&app, method, path, Some(&deactivated)).await;
            let as_operator = status(&app, method, path, Some(&fresh_token(secret, operator, "OPERATOR"))).await;
            let as_admin = status(&app, method, path, Some(&fresh_token(secret, admin, "ADMIN"))).await;
            let seen = [anonymous, with_expired, with_deactivated, as_operator, as_admin];
            match table[id.as_str()] {
                Public => assert!(seen.iter().all(|s| !refused.contains(s)), "{call}: public, got {seen:?}"),
                Signed => assert!(seen.iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{call}: signed, got {seen:?}"),
                access => {
                    assert_eq!([anonymous, with_expired, with_deactivated], [StatusCode::UNAUTHORIZED; 3], "{call}: no, expired, deactivated token");
                    assert!(!refused.contains(&as_admin), "{call}: ADMIN got {as_admin}");
                    if access == Admin {
                        assert_eq!(as_operator, StatusCode::FORBIDDEN, "{call}: OPERATOR");
                    } else {
                        assert!(!refused.contains(&as_operator), "{call}: OPERATOR got {as_operator}");
                    }
                }
            }
        }
    }
}
