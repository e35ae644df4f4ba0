//! CONNECT authentication against the MQTT credentials stored in our database.
//!
//! Verifying an argon2 hash takes tens of milliseconds, so a verified (username, password)
//! pair is remembered until any credential changes; a reconnect storm of a hundred gateways
//! then costs one hash each, not one per attempt.
//!
//! Revocation: every credential change bumps a generation number and records it against
//! the credential. A grant carries the generation at which its authentication started; a
//! connection whose credential changed at or after that generation closes. Connections
//! watch the number (a `watch` channel never loses a change), and a grant read from the
//! database before a change can neither be cached nor outlive it.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::Refusal;
use crate::auth::{PasswordCheck, verify_password_in_background};
use crate::config::MqttConfig;
use crate::store::Store;
use crate::store::mqtt::MqttCredential;

/// Characters a username may not contain: `%u` in a rule stands for it.
pub const USERNAME_FORBIDDEN: [char; 3] = ['+', '#', '/'];

/// What an authenticated client may do.
#[derive(Debug, Clone)]
pub struct Grant {
    pub credential_id: Option<i64>,
    pub username: Option<String>,
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
    /// The credential generation when the authentication started.
    pub generation: u64,
}

pub struct Authenticator {
    store: Store,
    allow_anonymous: bool,
    gateway_tree: String,
    verified: Mutex<HashMap<String, ([u8; 32], Grant)>>,
    generation: watch::Sender<u64>,
    /// Credential id → the generation of its last change.
    changed_at: Mutex<HashMap<i64, u64>>,
}

impl Authenticator {
    pub fn new(store: Store, config: &MqttConfig) -> Self {
        Authenticator {
            store,
            allow_anonymous: config.allow_anonymous,
            gateway_tree: config.gateway_tree.clone(),
            verified: Mutex::new(HashMap::new()),
            generation: watch::Sender::new(0),
            changed_at: Mutex::new(HashMap::new()),
        }
    }

    /// Records that a credential changed or was revoked (after the database has it):
    /// forgets verified passwords and makes its grants stale.
    pub fn credential_changed(&self, credential_id: i64) {
        let mut verified = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The change is recorded before the connections are woken: one that checks its
        // grant as soon as it wakes must already see it.
        self.generation.send_modify(|g| {
            *g += 1;
            self.changed_at
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(credential_id, *g);
        });
        verified.clear();
    }

    /// Changes to any credential, for connections to re-check theirs.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Whether a grant still stands (its credential has not changed since).
    pub fn is_current(&self, grant: &Grant) -> bool {
        let Some(id) = grant.credential_id else {
            return true;
        };
        self.changed_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .is_none_or(|changed| *changed <= grant.generation)
    }

    pub async fn authenticate(&self, login: Option<(&str, &str)>) -> Result<Grant, Refusal> {
        let started = *self.generation.borrow();
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
                generation: started,
            });
        };
        if username.contains(USERNAME_FORBIDDEN) {
            return Err(Refusal::BadCredentials);
        }
        let digest: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        if let Some((known, grant)) = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(username)
            && *known == digest
        {
            return Ok(Grant {
                generation: started,
                ..grant.clone()
            });
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
        let grant = grant_of(&credential, started);
        // Recorded in the background: a database busy with a long write must not hold up
        // the CONNACK.
        let (store, id) = (self.store.clone(), credential.id);
        tokio::spawn(async move {
            if let Err(err) = store.touch_mqtt_credential(id).await {
                tracing::debug!(error = %err, "could not record the credential's last connection");
            }
        });
        // A credential that changed while this was read from the database is not cached.
        let mut verified = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *self.generation.borrow() == started {
            verified.insert(username.to_string(), (digest, grant.clone()));
        }
        Ok(grant)
    }
}

fn grant_of(c: &MqttCredential, generation: u64) -> Grant {
    Grant {
        credential_id: Some(c.id),
        username: Some(c.username.clone()),
        publish: c.publish_acl.0.clone(),
        subscribe: c.subscribe_acl.0.clone(),
        generation,
    }
}
