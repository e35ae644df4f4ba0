//! Chatwoot against a stub Chatwoot server on loopback: an incident's conversation and
//! notes go out through the outbox (retried when the server fails), and the inbound
//! webhook adds agents' messages, refusing bad signatures and ignoring our own echoes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode as AxumStatus, Uri};
use reqwest::StatusCode;
use securityvision::webhooks::signature::sign;
use serde_json::{Value, json};

use crate::common::{Backend, TestApp, backend_tests, detail, eventually_within};

/// A PNG's first bytes: enough for the appliance to take it as an image.
const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// Now, as Chatwoot's timestamp header carries it.
fn now() -> String {
    chrono::Utc::now().timestamp().to_string()
}

/// A call the stub got: method, path (with query), the API token, the JSON body.
#[derive(Clone, Debug)]
struct Call {
    method: Method,
    path: String,
    token: String,
    body: Value,
    answered: u16,
}

/// A Chatwoot stand-in: no contacts or conversations found, contact 7 and conversation 42
/// created; its first `failures` note posts answer 500.
struct Stub {
    url: String,
    calls: Arc<Mutex<Vec<Call>>>,
    _server: tokio::task::JoinHandle<()>,
}

impl Stub {
    async fn start(failures: usize) -> Stub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let remaining = Arc::new(AtomicUsize::new(failures));
        let kept = calls.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: String| {
                let (kept, remaining) = (kept.clone(), remaining.clone());
                async move {
                    use axum::response::IntoResponse;
                    let path = uri.path_and_query().unwrap().to_string();
                    if path == "/files/pic.png" {
                        return ([("content-type", "image/png")], PNG.to_vec()).into_response();
                    }
                    let base = "/api/v1/accounts/1/";
                    let route = path.strip_prefix(base).unwrap_or(&path).to_string();
                    let (status, answer) = if route.starts_with("contacts/search") {
                        (200, json!({"payload": []}))
                    } else if route == "inboxes" {
                        (200, json!({"payload": [{"id": 10, "name": "Main"}, {"id": 11, "name": "Support", "identifier": "support-inbox"}]}))
                    } else if route == "contacts" {
                        (200, json!({"payload": {"contact": {"id": 7}}}))
                    } else if route == "conversations/filter" {
                        (200, json!({"meta": {}, "payload": []}))
                    } else if route == "conversations" {
                        (200, json!({"id": 42}))
                    } else if route.starts_with("conversations/") && route.ends_with("/messages") {
                        let fail = remaining
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok();
                        if fail {
                            (500, json!({}))
                        } else {
                            (200, json!({"id": 1000}))
                        }
                    } else if route.starts_with("conversations/")
                        && route.ends_with("/toggle_status")
                    {
                        (200, json!({"payload": {"success": true}}))
                    } else {
                        (404, json!({"error": "not found"}))
                    };
                    let token = headers
                        .get("api_access_token")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    let body = serde_json::from_str(&body).unwrap_or(Value::Null);
                    kept.lock().unwrap().push(Call {
                        method,
                        path: route,
                        token,
                        body,
                        answered: status,
                    });
                    (AxumStatus::from_u16(status).unwrap(), axum::Json(answer)).into_response()
                }
            },
        );
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Stub {
            url: format!("http://127.0.0.1:{port}/"),
            calls,
            _server: server,
        }
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The notes Chatwoot accepted, in order: (content, source_id).
    fn notes(&self) -> Vec<(String, String)> {
        self.calls()
            .iter()
            .filter(|c| c.path.ends_with("/messages") && c.answered == 200)
            .map(|c| {
                (
                    c.body["content"].as_str().unwrap_or("").to_string(),
                    c.body["source_id"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }
}

/// An appliance talking to `stub` (allowed on loopback), retrying after a second.
async fn app(
    backend: Backend,
    stub: &Stub,
    adjust: impl FnOnce(&mut securityvision::config::Config),
) -> TestApp {
    let url = stub.url.clone();
    TestApp::start_with(backend, move |c| {
        c.webhooks.retry_first_seconds = 1;
        c.chatwoot.enabled = true;
        c.chatwoot.base_url = Some(url);
        c.chatwoot.account_id = Some("1".into());
        c.chatwoot.inbox = Some("5".into());
        c.chatwoot.api_token = Some("cw-token".into());
        c.chatwoot.allow_private = true;
        adjust(c);
    })
    .await
}

async fn messages(app: &TestApp, token: &str, incident: i64) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/api/v1/incidents/{incident}/messages"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

/// Posts to the inbound webhook with the given headers.
async fn inbound(app: &TestApp, headers: &[(&str, &str)], body: &str) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .post(app.url("/api/v1/integrations/chatwoot/webhook"))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

backend_tests! {
    async fn an_incident_gets_its_conversation_and_notes_in_order_after_failures(backend: Backend) {
        // The first two notes fail: the summary is retried and what follows waits for it.
        let stub = Stub::start(2).await;
        let app = app(backend, &stub, |_| {}).await;
        let t = app.admin_token().await;
        // The group's own inbox (by its identifier) and team.
        let group = app.create("/api/v1/support-groups", &t, json!({"name": "Night shift", "chatwoot_inbox_identifier": "support-inbox", "chatwoot_team_id": 9}), StatusCode::OK).await;
        let i = app.create_id("/api/v1/incidents", &t, json!({"title": "Smoke", "severity": "HIGH", "assigned_group_id": group["id"]})).await;
        app.create(&format!("/api/v1/incidents/{i}/messages"), &t, json!({"content": "On my way"}), StatusCode::CREATED).await;
        let (status, body) = app.call(reqwest::Method::PATCH, &format!("/api/v1/incidents/{i}"), Some(&t), Some(json!({"status": "RESOLVED"}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");

        let resolved = async || {
            stub.calls().iter().any(|c| c.path == "conversations/42/toggle_status")
                && stub.notes().iter().any(|(text, _)| text.contains("para RESOLVED"))
        };
        assert!(eventually_within(Duration::from_secs(30), resolved).await, "{:#?}", stub.calls());

        let calls = stub.calls();
        assert!(calls.iter().all(|c| c.token == "cw-token"), "the API token on every call");
        let created: Vec<&Call> = calls.iter().filter(|c| c.path == "conversations" && c.method == Method::POST).collect();
        assert_eq!(created.len(), 1, "one conversation per incident");
        let conversation = &created[0].body;
        assert_eq!(conversation["source_id"], format!("incident-{i}"));
        assert_eq!(conversation["inbox_id"], 11, "the group's inbox");
        assert_eq!(conversation["team_id"], 9, "the group's team");
        assert_eq!(conversation["contact_id"], 7);
        assert_eq!(conversation["custom_attributes"]["incident_id"], i);
        assert_eq!(conversation["custom_attributes"]["severity"], "HIGH");

        let failed = calls.iter().filter(|c| c.path == "conversations/42/messages" && c.answered == 500).count();
        assert_eq!(failed, 2, "retried after failing");
        let notes = stub.notes();
        assert!(notes.len() >= 3, "{notes:?}");
        assert!(notes[0].0.starts_with(&format!("[Incidente #{i}] Smoke")), "{notes:?}");
        assert!(notes[0].0.contains("Grupo: Night shift (team_id=9)"), "{notes:?}");
        assert_eq!(notes[0].1, format!("sv-incident-{i}"));
        // Then the timeline as it was written: opened, the operator's words, the change.
        let at = |needle: &str| notes.iter().position(|(text, _)| text.contains(needle)).unwrap_or_else(|| panic!("{needle}: {notes:?}"));
        let (opened, words, change) = (at("Incidente aberto"), at("On my way"), at("para RESOLVED"));
        assert!(0 < opened && opened < words && words < change, "{notes:?}");
        assert_eq!(notes[words].0, "Administrator:\nOn my way");
        assert!(notes[1..].iter().all(|(_, source)| source.starts_with("sv-msg-")));
        let posted = calls.iter().filter(|c| c.path == "conversations/42/messages");
        assert!(posted.clone().all(|c| c.body["private"] == true && c.body["content_attributes"]["sv_source"] == "securityvision"));
        let toggle = calls.iter().find(|c| c.path == "conversations/42/toggle_status").unwrap();
        assert_eq!(toggle.body["status"], "resolved");

        // The incident remembers its conversation.
        let (_, incident) = app.get(&format!("/api/v1/incidents/{i}"), &t).await;
        assert_eq!(incident["chatwoot_conversation_id"], 42, "{incident}");
        let (status, cw) = app.get("/api/v1/chatwoot/status", &t).await;
        assert_eq!(status, StatusCode::OK, "{cw}");
        assert_eq!(cw["configured"], true);
        assert!(cw["last_success_at"].is_string(), "{cw}");
        assert!(cw["last_error"].as_str().unwrap().contains("500"), "{cw}");
        assert!(!cw.to_string().contains("cw-token"), "the token is never shown");
    }

    async fn the_inbound_webhook_checks_signatures_and_ignores_echoes(backend: Backend) {
        let stub = Stub::start(0).await;
        let app = app(backend, &stub, |c| c.chatwoot.webhook_secret = Some("cw-hmac-secret".into())).await;
        let t = app.admin_token().await;
        let i = app.create_id("/api/v1/incidents", &t, json!({"title": "Door forced"})).await;
        // The conversation Chatwoot has is found by the incident it names.
        let message = |content: &str, extra: Value| {
            let mut m = json!({"event": "message_created", "id": 555, "content": content, "message_type": "outgoing",
                "private": false, "sender": {"type": "user", "id": 31, "name": "Ana Agent"},
                "conversation": {"id": 77, "custom_attributes": {"incident_id": i}}});
            for (k, v) in extra.as_object().unwrap() {
                m[k] = v.clone();
            }
            m.to_string()
        };

        // A bad signature: refused, counted, nothing added.
        let body = message("forged", json!({}));
        let before = messages(&app, &t, i).await.len();
        let (status, answer) = inbound(&app, &[("X-Chatwoot-Signature", "sha256=00"), ("X-Chatwoot-Timestamp", "1700000000")], &body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        assert_eq!(detail(&answer), "Invalid Chatwoot signature");
        let (status, _) = inbound(&app, &[], &body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "unsigned");
        // Signed with another body.
        let (_, other) = sign("cw-hmac-secret", &now(), b"{}");
        let (status, _) = inbound(&app, &[("X-Chatwoot-Signature", &other), ("X-Chatwoot-Timestamp", &now())], &body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        // Well signed long ago: a replay.
        let (_, old) = sign("cw-hmac-secret", "1700000000", body.as_bytes());
        let (status, _) = inbound(&app, &[("X-Chatwoot-Signature", &old), ("X-Chatwoot-Timestamp", "1700000000")], &body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "replayed");
        assert_eq!(app.metrics().chatwoot_inbound_refused.load(Ordering::Relaxed), 4);
        assert_eq!(messages(&app, &t, i).await.len(), before, "nothing changed");
        let (_, incident) = app.get(&format!("/api/v1/incidents/{i}"), &t).await;
        assert!(incident["chatwoot_conversation_id"].is_null() || incident["chatwoot_conversation_id"] == 42);

        // Well signed: the agent's message joins the incident, whose conversation is now 77.
        let body = message("  Checking the camera  ", json!({}));
        let ts = now();
        let (_, signature) = sign("cw-hmac-secret", &ts, body.as_bytes());
        let (status, answer) = inbound(&app, &[("X-Chatwoot-Signature", &signature), ("X-Chatwoot-Timestamp", &ts)], &body).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
        let all = messages(&app, &t, i).await;
        let added = all.last().unwrap();
        assert_eq!(added["content"], "Checking the camera");
        assert_eq!(added["message_type"], "OPERATOR");
        assert_eq!(added["author_name"], "Ana Agent");
        let (_, incident) = app.get(&format!("/api/v1/incidents/{i}"), &t).await;
        assert_eq!(incident["chatwoot_conversation_id"], 77, "{incident}");

        // Our own note coming back, and an edit: ignored.
        let count = all.len();
        for body in [
            message("[Incidente] echo", json!({"content_attributes": {"sv_source": "securityvision"}})),
            message("echo by source id", json!({"source_id": "sv-msg-9"})),
            message("edited", json!({"event": "message_updated"})),
        ] {
            let ts = now();
            let (_, signature) = sign("cw-hmac-secret", &ts, body.as_bytes());
            let (status, _) = inbound(&app, &[("X-Chatwoot-Signature", &signature), ("X-Chatwoot-Timestamp", &ts)], &body).await;
            assert_eq!(status, StatusCode::NO_CONTENT);
        }
        assert_eq!(messages(&app, &t, i).await.len(), count, "echoes and edits are not stored");

        // An attachment is fetched in the background and becomes a MEDIA message.
        let body = message("", json!({"attachments": [{"id": 8, "file_type": "image", "data_url": format!("{}files/pic.png", stub.url)}]}));
        let ts = now();
        let (_, signature) = sign("cw-hmac-secret", &ts, body.as_bytes());
        let (status, _) = inbound(&app, &[("X-Chatwoot-Signature", &signature), ("X-Chatwoot-Timestamp", &ts)], &body).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let media = async || messages(&app, &t, i).await.iter().any(|m| m["message_type"] == "MEDIA");
        assert!(eventually_within(Duration::from_secs(20), media).await, "{:?}", messages(&app, &t, i).await);
        let all = messages(&app, &t, i).await;
        let m = all.iter().find(|m| m["message_type"] == "MEDIA").unwrap();
        assert_eq!(m["content"], "Arquivo recebido via Chatwoot: chatwoot-attachment-8");
        assert_eq!(m["author_name"], "Ana Agent");
        let path = m["media_url"].as_str().unwrap().trim_start_matches(&app.url("")).to_string();
        let served = app.client.get(app.url(&path)).bearer_auth(&t).send().await.unwrap();
        assert_eq!(served.status(), StatusCode::OK, "stored and served");
        assert_eq!(served.bytes().await.unwrap().as_ref(), PNG);

        // What came from Chatwoot is not sent back to it: a later operator message arrives
        // (deliveries go in order per incident) and nothing before it carried the agent's words.
        app.create(&format!("/api/v1/incidents/{i}/messages"), &t, json!({"content": "Thanks"}), StatusCode::CREATED).await;
        assert!(eventually_within(Duration::from_secs(30), async || stub.notes().iter().any(|(n, _)| n.ends_with("Thanks"))).await, "{:#?}", stub.calls());
        assert!(stub.notes().iter().all(|(n, _)| !n.contains("Checking the camera")), "{:?}", stub.notes());
        assert!(stub.calls().iter().any(|c| c.path == "conversations/77/messages"), "the incident's conversation is now 77");
    }

    async fn the_original_static_token_is_still_accepted(backend: Backend) {
        let stub = Stub::start(0).await;
        let app = app(backend, &stub, |c| c.chatwoot.webhook_token = Some("legacy-token".into())).await;
        let t = app.admin_token().await;
        let i = app.create_id("/api/v1/incidents", &t, json!({"title": "Smoke"})).await;
        let body = json!({"event": "message_created", "content": "private note", "private": true,
            "conversation": {"id": 90, "contact_inbox": {"source_id": format!("incident-{i}")}},
            "sender": {"type": "contact", "name": "Visitor"}}).to_string();
        let (status, _) = inbound(&app, &[("X-Chatwoot-Signature", "wrong")], &body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = inbound(&app, &[("X-Chatwoot-Signature", "legacy-token")], &body).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let added = messages(&app, &t, i).await.last().unwrap().clone();
        assert_eq!((added["content"].as_str(), added["message_type"].as_str(), added["author_name"].as_str()), (Some("private note"), Some("SYSTEM"), Some("Visitor")));
        // Not JSON, or an event that is not a message: accepted and ignored.
        let (status, _) = inbound(&app, &[("X-Chatwoot-Signature", "legacy-token")], "not json").await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }

    async fn without_configuration_nothing_is_sent_and_the_status_says_so(backend: Backend) {
        let app = TestApp::start(backend).await;
        let t = app.admin_token().await;
        let incident = app.create_id("/api/v1/incidents", &t, json!({"title": "Smoke"})).await;
        let (status, cw) = app.get("/api/v1/chatwoot/status", &t).await;
        assert_eq!(status, StatusCode::OK, "{cw}");
        assert_eq!(cw["configured"], false);
        assert_eq!(cw["pending"], 0, "nothing queued for Chatwoot");
        let (_, operator) = app.user_token(&t, "op@example.com", "OPERATOR").await;
        let (status, _) = app.get("/api/v1/chatwoot/status", &operator).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "administrators only");
        // With no secret and no token, nobody may write into incidents through the webhook.
        let body = json!({"event": "message_created", "message_type": "incoming", "content": "forged",
            "conversation": {"id": 1, "custom_attributes": {"incident_id": incident}}}).to_string();
        let (status, answer) = inbound(&app, &[], &body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        let (status, answer) = inbound(&app, &[("X-Chatwoot-Signature", "")], &body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        assert!(messages(&app, &t, incident).await.iter().all(|m| m["content"] != "forged"));
    }
}

/// The original's environment names configure Chatwoot, the token may come from a file,
/// and no secret is ever shown.
#[test]
fn the_originals_variables_configure_it_and_secrets_stay_hidden() {
    use securityvision::config::{Overrides, load_from};
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "file-token-123\n").unwrap();
    let env: std::collections::HashMap<String, String> = [
        ("CHATWOOT_ENABLED", "true"),
        ("CHATWOOT_BASE_URL", "https://chat.example.com/"),
        ("CHATWOOT_DEFAULT_ACCOUNT_ID", "3"),
        ("CHATWOOT_DEFAULT_INBOX_IDENTIFIER", "sv-inbox"),
        ("SV_CHATWOOT_API_TOKEN_FILE", token_file.to_str().unwrap()),
        ("CHATWOOT_WEBHOOK_TOKEN", "legacy-token-456"),
        ("SV_CHATWOOT_WEBHOOK_SECRET", "hmac-secret-789"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let overrides = Overrides {
        config_file: Some("/dev/null".into()),
        ..Overrides::default()
    };
    let names: Vec<String> = env.keys().cloned().collect();
    let config = load_from(&overrides, |n| env.get(n).cloned(), names.into_iter())
        .unwrap()
        .config;
    let c = &config.chatwoot;
    assert!(securityvision::chatwoot::configured(c));
    assert_eq!(c.account_id.as_deref(), Some("3"));
    assert_eq!(c.inbox.as_deref(), Some("sv-inbox"));
    assert_eq!(
        c.api_token.as_deref().map(str::trim),
        Some("file-token-123")
    );
    assert_eq!(c.webhook_token.as_deref(), Some("legacy-token-456"));
    let shown = format!("{}\n{:?}\n{:?}", config.to_redacted_toml(), config, c);
    for secret in ["file-token-123", "legacy-token-456", "hmac-secret-789"] {
        assert!(!shown.contains(secret), "{secret} shown");
    }
    assert!(shown.contains("chat.example.com"));

    // A base URL that is not http(s), an account that is not a number: refused.
    for (name, value) in [
        ("CHATWOOT_BASE_URL", "ftp://chat"),
        ("CHATWOOT_DEFAULT_ACCOUNT_ID", "one"),
    ] {
        let mut bad = env.clone();
        bad.insert(name.into(), value.into());
        let names: Vec<String> = bad.keys().cloned().collect();
        let err = load_from(&overrides, |n| bad.get(n).cloned(), names.into_iter()).err();
        assert!(err.is_some(), "{name}={value} accepted");
    }
}
