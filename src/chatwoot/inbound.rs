//! What the inbound webhook reads from Chatwoot's call: whether it may be trusted, and the
//! message it carries.

use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::config::ChatwootConfig;

/// How far a signed call's timestamp may be from our clock: an older one is a replay.
pub const MAX_SKEW_SECONDS: i64 = 300;

/// Whether the call is Chatwoot's: with `webhook_secret`, `X-Chatwoot-Signature` must be
/// `sha256=<hex HMAC>` of `<X-Chatwoot-Timestamp>.<body>` with a timestamp within
/// [`MAX_SKEW_SECONDS`] of `now` (or of the body alone, when no timestamp is sent); with
/// `webhook_token` (the original's, weaker), the header may instead equal the token; with
/// neither, every call is refused: an unconfigured webhook must not let anyone on the network
/// write into incidents (the original's was open).
pub fn trusted(
    config: &ChatwootConfig,
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now: i64,
) -> bool {
    let set = |v: &Option<String>| v.as_deref().filter(|v| !v.is_empty()).map(str::to_string);
    let (secret, token) = (set(&config.webhook_secret), set(&config.webhook_token));
    if secret.is_none() && token.is_none() {
        return false;
    }
    let Some(signature) = signature.map(str::trim) else {
        return false;
    };
    let same = |a: &str, b: &str| bool::from(a.as_bytes().ct_eq(b.as_bytes()));
    if let Some(secret) = secret {
        let (plain, stamped) =
            crate::webhooks::signature::sign(&secret, timestamp.unwrap_or_default(), body);
        let expected = if timestamp.is_some() { stamped } else { plain };
        let given = signature.to_ascii_lowercase();
        let given = if given.starts_with("sha256=") {
            given
        } else {
            format!("sha256={given}")
        };
        let fresh = timestamp.is_none_or(|t| {
            t.trim()
                .parse::<i64>()
                .is_ok_and(|t| (now - t).abs() <= MAX_SKEW_SECONDS)
        });
        if fresh && same(&given, &expected) {
            return true;
        }
    }
    token.is_some_and(|token| same(signature, &token))
}

/// A Chatwoot message as the webhook carries it.
#[derive(Debug, Default)]
pub struct Inbound {
    pub conversation_id: Option<i64>,
    /// The incident the conversation names (custom attribute or `incident-<id>`).
    pub named_incident: Option<i64>,
    /// Our own note coming back.
    pub echo: bool,
    pub content: String,
    pub private: bool,
    /// A Chatwoot agent's id (`sender.type` = user).
    pub agent_id: Option<i64>,
    pub sender_name: Option<String>,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone)]
pub struct Attachment {
    pub url: String,
    pub name: String,
}

/// The message of a `message_created` call; `None` for every other event (an edit,
/// `message_updated`, is not taken again: the original stored it twice).
pub fn read(payload: &Value) -> Option<Inbound> {
    let event = payload["event"]
        .as_str()
        .or_else(|| payload["event_name"].as_str())?;
    if event != "message_created" {
        return None;
    }
    let data = if payload["data"].is_object() {
        &payload["data"]
    } else {
        payload
    };
    let conversation = &data["conversation"];
    let number = |v: &Value| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    };
    let conversation_id = number(&conversation["id"])
        .or_else(|| number(&data["conversation_id"]))
        .or_else(|| number(&payload["conversation_id"]));
    let named_incident = number(&conversation["custom_attributes"]["incident_id"]).or_else(|| {
        conversation["contact_inbox"]["source_id"]
            .as_str()
            .and_then(|s| s.strip_prefix("incident-"))
            .and_then(|n| n.parse().ok())
    });
    let message = [&data["message"], &payload["message"]]
        .into_iter()
        .find(|m| m.is_object())
        .unwrap_or(data);
    let echo = message["content_attributes"]["sv_source"] == "securityvision"
        || message["source_id"]
            .as_str()
            .is_some_and(|s| s.starts_with("sv-"));
    let flag = |v: &Value| {
        v["private"].as_bool().unwrap_or(false) || v["is_private"].as_bool().unwrap_or(false)
    };
    let sender = [
        &message["sender"],
        &data["sender"],
        &payload["sender"],
        &payload["user"],
    ]
    .into_iter()
    .find(|s| s.is_object())
    .unwrap_or(&Value::Null);
    let text = |v: &Value| {
        v.as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let listed = if message["attachments"].is_array() {
        &message["attachments"]
    } else {
        &data["attachments"]
    };
    let attachments = listed
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|a| {
                    let url = ["data_url", "file_url", "url"]
                        .iter()
                        .find_map(|k| text(&a[*k]))?;
                    let name = ["fallback_title", "file_name", "filename", "name"]
                        .iter()
                        .find_map(|k| text(&a[*k]))
                        .unwrap_or_else(|| format!("chatwoot-attachment-{}", a["id"]));
                    Some(Attachment { url, name })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Inbound {
        conversation_id,
        named_incident,
        echo,
        content: text(&message["content"]).unwrap_or_default(),
        private: flag(message) || flag(data),
        agent_id: (sender["type"] == "user")
            .then(|| sender["id"].as_i64())
            .flatten(),
        sender_name: text(&sender["name"]).or_else(|| text(&sender["email"])),
        attachments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(secret: Option<&str>, token: Option<&str>) -> ChatwootConfig {
        ChatwootConfig {
            webhook_secret: secret.map(str::to_string),
            webhook_token: token.map(str::to_string),
            ..ChatwootConfig::default()
        }
    }

    #[test]
    fn a_signature_is_checked_against_the_body_and_timestamp() {
        let c = config(Some("s3cret"), None);
        let now = 1_700_000_100;
        let (plain, stamped) = crate::webhooks::signature::sign("s3cret", "1700000000", b"{}");
        assert!(trusted(&c, Some(&stamped), Some("1700000000"), b"{}", now));
        assert!(trusted(&c, Some(&plain), None, b"{}", now));
        assert!(!trusted(&c, Some(&stamped), Some("1700000001"), b"{}", now));
        assert!(!trusted(&c, Some(&plain), None, b"{ }", now));
        assert!(!trusted(&c, None, None, b"{}", now));
        assert!(!trusted(&c, Some("s3cret"), None, b"{}", now));
        // Replayed later (or from a clock far off): refused.
        let later = 1_700_000_000 + MAX_SKEW_SECONDS + 1;
        assert!(!trusted(
            &c,
            Some(&stamped),
            Some("1700000000"),
            b"{}",
            later
        ));
    }

    #[test]
    fn the_static_token_still_works_and_nothing_set_means_closed() {
        let c = config(Some("s3cret"), Some("tok"));
        assert!(trusted(&c, Some("tok"), None, b"{}", 0));
        assert!(!trusted(&c, Some("tok2"), None, b"{}", 0));
        assert!(!trusted(&config(None, None), None, None, b"{}", 0));
        assert!(!trusted(
            &config(Some(""), Some("")),
            Some(""),
            None,
            b"{}",
            0
        ));
    }

    #[test]
    fn echoes_and_other_events_are_recognised() {
        let ours = serde_json::json!({"event": "message_created", "conversation": {"id": 4},
            "content": "x", "content_attributes": {"sv_source": "securityvision"}});
        assert!(read(&ours).unwrap().echo);
        let edit = serde_json::json!({"event": "message_updated", "content": "x"});
        assert!(read(&edit).is_none());
        let theirs = serde_json::json!({"event": "message_created", "id": 9,
            "conversation": {"id": "4", "custom_attributes": {"incident_id": "12"}},
            "content": " hi ", "private": true, "sender": {"type": "user", "id": 3, "name": "Ana"}});
        let m = read(&theirs).unwrap();
        assert!(!m.echo && m.private);
        assert_eq!((m.conversation_id, m.named_incident), (Some(4), Some(12)));
        assert_eq!((m.content.as_str(), m.agent_id), ("hi", Some(3)));
    }
}
