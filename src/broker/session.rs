//! Client-id takeover, who owns a session, and the index of subscribed filters.
//!
//! Takeover: a second connection with a client id that is already connected makes the
//! first one close (publishing its last will) and waits until it has left the router
//! before joining; rumqttd's own listener got this wrong (a stale disconnect could drop
//! the new client).
//!
//! Ownership: a client id's session belongs to the credential that made it. Another
//! credential may not take a live connection over (it is refused, so a low-privilege
//! credential cannot kick a collector off), and never inherits a saved persistent session
//! (its subscriptions and queued messages): that session is discarded first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::acl;
use crate::metrics::Metrics;

/// How long a new connection waits for the one it replaces to leave.
const TAKEOVER_WAIT: Duration = Duration::from_secs(5);

/// Who a session belongs to: a credential id, or `None` for anonymous clients.
pub type Owner = Option<i64>;

struct Live {
    session: u64,
    owner: Owner,
    kick: CancellationToken,
    gone: watch::Receiver<bool>,
}

#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Live>>,
    /// Client ids whose persistent session the router keeps, and their owners.
    saved: Mutex<HashMap<String, Owner>>,
    next: AtomicU64,
}

/// A connection's hold on its client id; dropping it releases the id.
pub struct Claim<'a> {
    sessions: &'a Sessions,
    client_id: String,
    session: u64,
    kick: CancellationToken,
    gone: watch::Sender<bool>,
    /// Set when the router holds a persistent session of another owner under this id,
    /// which must be discarded before this connection links.
    pub foreign_saved_session: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ClaimError {
    /// A live connection of another credential holds the id.
    InUse,
    /// The connection being taken over did not leave in time.
    Stuck,
}

impl Sessions {
    /// Claims `client_id` for `owner`, making an existing holder of the same owner close
    /// first.
    pub async fn claim(
        &self,
        client_id: &str,
        owner: Owner,
        metrics: &Metrics,
    ) -> Result<Claim<'_>, ClaimError> {
        let session = self.next.fetch_add(1, Ordering::Relaxed);
        let kick = CancellationToken::new();
        let (gone_tx, gone_rx) = watch::channel(false);
        let previous = {
            let mut live = self
                .live
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if live.get(client_id).is_some_and(|l| l.owner != owner) {
                return Err(ClaimError::InUse);
            }
            live.insert(
                client_id.to_string(),
                Live {
                    session,
                    owner,
                    kick: kick.clone(),
                    gone: gone_rx,
                },
            )
        };
        if let Some(mut old) = previous {
            metrics.mqtt_takeovers.fetch_add(1, Ordering::Relaxed);
            old.kick.cancel();
            let left = tokio::time::timeout(TAKEOVER_WAIT, old.gone.wait_for(|gone| *gone)).await;
            if left.is_err() {
                tracing::warn!(
                    client_id,
                    "the connection being taken over did not close in time"
                );
                self.release(client_id, session);
                return Err(ClaimError::Stuck);
            }
        }
        let foreign_saved_session = self
            .saved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(client_id)
            .is_some_and(|saved| *saved != owner);
        Ok(Claim {
            sessions: self,
            client_id: client_id.to_string(),
            session,
            kick,
            gone: gone_tx,
            foreign_saved_session,
        })
    }

    fn release(&self, client_id: &str, session: u64) {
        let mut live = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if live.get(client_id).is_some_and(|l| l.session == session) {
            live.remove(client_id);
        }
    }
}

impl Claim<'_> {
    /// Resolves when a newer connection takes this client id over.
    pub async fn taken_over(&self) {
        self.kick.cancelled().await;
    }

    /// Records what the router keeps once this connection has left: its persistent
    /// session (owned by `owner`), or nothing after a clean session.
    pub fn leave(&self, persistent: bool, owner: Owner) {
        let mut saved = self
            .sessions
            .saved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if persistent {
            saved.insert(self.client_id.clone(), owner);
        } else {
            saved.remove(&self.client_id);
        }
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.sessions.release(&self.client_id, self.session);
        // The connection has published its will and left the router.
        let _ = self.gone.send(true);
    }
}

/// The filters some client subscribed to, counted, so that a publish nobody reads is
/// not handed to the router at all.
#[derive(Default)]
pub struct Subscriptions {
    filters: std::sync::RwLock<HashMap<String, usize>>,
}

impl Subscriptions {
    pub fn add(&self, filter: &str) {
        let filter = acl::unshared(filter).to_string();
        *self
            .filters
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(filter)
            .or_default() += 1;
    }

    pub fn remove(&self, filter: &str) {
        let filter = acl::unshared(filter);
        let mut filters = self
            .filters
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = filters.get_mut(filter) {
            *count -= 1;
            if *count == 0 {
                filters.remove(filter);
            }
        }
    }

    pub fn any_match(&self, topic: &str) -> bool {
        let filters = self
            .filters
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        !filters.is_empty() && filters.keys().any(|f| acl::matches(f, topic))
    }
}
