//! CONNECT authentication against the MQTT credentials stored in our database.
//!
//! Verifying an argon2 hash takes tens of milliseconds, so a verified (username, password)
//! pair is remembered until any credential changes; a reconnect storm of a hundred gateways
//! then costs one hash each, not one per attempt.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::auth::{PasswordCheck, verify_password_in_background};
use crate::config::MqttConfig;
use crate::metrics::Refusal;
use crate::store::Store;
use crate::store::mqtt::MqttCredential;

/// What an authenticated client may do.
#[derive(Debug, Clone)]
pub struct Grant {
    pub credential_id: Option<i64>,
    pub username: Option<String>,
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
}

pub struct Authenticator {
    store: Store,
    allow_anonymous: bool,
    gateway_tree: String,
    verified: Mutex<HashMap<String, ([u8; 32], Grant)>>,
}

impl Authenticator {
    pub fn new(store: Store, config: &MqttConfig) -> Self {
        Authenticator {
            store,
            allow_anonymous: config.allow_anonymous,
            gateway_tree: config.gateway_tree.clone(),
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets verified passwords; called whenever a credential changes.
    pub fn invalidate(&self) {
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    pub async fn authenticate(&self, login: Option<(&str, &str)>) -> Result<Grant, Refusal> {
        let Some((username, password)) = login else {
            if !self.allow_anonymous {
                return Err(Refusal::NotAuthorized);
            }
            // Anonymous clients may report as gateways, and read nothing.
            return Ok(Grant {
                credential_id: None,
                username: None,
                publish: vec![format!("{}/#", self.gateway_tree)],
                subscribe: Vec::new(),
            });
        };
        let digest: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        if let Some((known, grant)) = self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(username)
            && *known == digest
        {
            return Ok(grant.clone());
        }
        let credential = match self.store.mqtt_credential_by_username(username).await {
            Ok(Some(c)) if c.is_active => Some(c),
            Ok(_) => None,
            Err(err) => {
                tracing::warn!(error = %err, "MQTT authentication: database unavailable");
                return Err(Refusal::NotAuthorized);
            }
        };
        let stored = credential.as_ref().map(|c| c.password_hash.clone());
        let check = verify_password_in_background(password, stored)
            .await
            .unwrap_or(PasswordCheck::Invalid);
        let Some(credential) = credential.filter(|_| check.is_valid()) else {
            return Err(Refusal::BadCredentials);
        };
        let grant = grant_of(&credential);
        if let Err(err) = self.store.touch_mqtt_credential(credential.id).await {
            tracing::debug!(error = %err, "could not record the credential's last connection");
        }
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(username.to_string(), (digest, grant.clone()));
        Ok(grant)
    }
}

fn grant_of(c: &MqttCredential) -> Grant {
    Grant {
        credential_id: Some(c.id),
        username: Some(c.username.clone()),
        publish: c.publish_acl.0.clone(),
        subscribe: c.subscribe_acl.0.clone(),
    }
}
