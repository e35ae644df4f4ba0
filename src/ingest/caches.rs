//! The pipeline's caches of what reports are matched against (tags by MAC, gateways by MAC
//! or code with their plans and anchors, plan sizes), and how a change reaches them: an API
//! write applied at once, everything reloaded at each refresh. State that belonged to a
//! changed or deleted object is dropped.

use std::collections::HashMap;

use super::decode::GatewayKey;
use super::locate::{Anchor, PathLoss};
use super::pipeline::Pipeline;
use super::view::Subject;
use crate::mac::Mac;
use crate::store::StoreError;

/// What the pipeline matches a tag by, and what makes its state another tag's when it
/// changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TagKey {
    pub(super) mac: Mac,
    pub(super) active: bool,
    pub(super) person_id: Option<i64>,
}

/// How the presence sessions of forgotten state end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    /// Written as closed (the tag or gateway still exists).
    Close,
    /// Dropped: the database deletes them with their tag or gateway.
    Gone,
}

impl Pipeline {
    /// Applies one API write. A deletion drops the object's state by its id first, so a
    /// new object that gets the same id (another node's, or SQLite before ids were never
    /// reused) starts afresh; the reload then drops the state of whatever else changed.
    pub(super) async fn changed(&mut self, subject: Subject, id: i64, deleted: bool) {
        match subject {
            Subject::Tag if deleted => {
                self.forget_tag(id, Ending::Gone);
                if let Some(key) = self.tag_keys.remove(&id) {
                    self.tags.remove(&key.mac);
                }
            }
            Subject::Tag => self.reload_tag(id).await,
            Subject::Person if deleted => {
                let carried: Vec<i64> = self
                    .tag_keys
                    .iter()
                    .filter(|(_, key)| key.person_id == Some(id))
                    .map(|(tag, _)| *tag)
                    .collect();
                for tag in carried {
                    self.forget_tag(tag, Ending::Close);
                }
                self.load_tags().await;
            }
            Subject::Device => {
                if deleted {
                    self.forget_gateway(id, Ending::Gone);
                }
                self.load_gateways().await;
            }
            Subject::FloorPlan => {
                if deleted {
                    let placed: Vec<i64> = self
                        .gateway_plans
                        .iter()
                        .filter(|(_, plan)| **plan == Some(id))
                        .map(|(gateway, _)| *gateway)
                        .collect();
                    for gateway in placed {
                        self.forget_gateway(gateway, Ending::Close);
                    }
                }
                self.load_plans().await;
                self.load_gateways().await;
            }
            // Their plans go with them (and their gateways are then on none).
            Subject::Floor | Subject::Building if deleted => {
                self.load_plans().await;
                self.load_gateways().await;
            }
            Subject::Person | Subject::Floor | Subject::Building => {}
        }
    }

    pub(super) async fn load_caches(&mut self) {
        self.load_tags().await;
        self.load_plans().await;
        self.load_gateways().await;
    }

    /// Reloads every tag; the state of a tag deleted, or now with another MAC, person or
    /// active flag, is dropped.
    pub(super) async fn load_tags(&mut self) {
        let rows = match self.store.tag_keys().await {
            Ok(rows) => rows,
            Err(err) => return tracing::warn!(error = %err, "could not load tags"),
        };
        let keys: HashMap<i64, TagKey> = rows
            .into_iter()
            .filter_map(|(mac, id, active, person_id)| {
                let mac = crate::mac::canonical(&mac)?;
                Some((
                    id,
                    TagKey {
                        mac,
                        active,
                        person_id,
                    },
                ))
            })
            .collect();
        let stale: Vec<(i64, Ending)> = self
            .tag_keys
            .iter()
            .filter_map(|(id, old)| match keys.get(id) {
                None => Some((*id, Ending::Gone)),
                Some(new) if new != old => Some((*id, Ending::Close)),
                Some(_) => None,
            })
            .collect();
        for (id, ending) in stale {
            self.forget_tag(id, ending);
        }
        self.tags = keys.iter().map(|(id, key)| (key.mac, *id)).collect();
        self.view.registered(self.tags.keys());
        self.tag_keys = keys;
    }

    /// Reloads one tag (created or updated through the API).
    pub(super) async fn reload_tag(&mut self, id: i64) {
        let tag = match self.store.tag(id).await {
            Ok(tag) => tag,
            Err(StoreError::NotFound) => return self.load_tags().await,
            Err(err) => return tracing::warn!(error = %err, "could not load a tag"),
        };
        let Some(mac) = crate::mac::canonical(&tag.mac_address) else {
            return;
        };
        let key = TagKey {
            mac,
            active: tag.active,
            person_id: tag.person_id,
        };
        match self.tag_keys.insert(id, key) {
            Some(old) if old != key => {
                self.forget_tag(id, Ending::Close);
                if self.tags.get(&old.mac) == Some(&id) {
                    self.tags.remove(&old.mac);
                }
            }
            _ => {}
        }
        self.tags.insert(mac, id);
        self.view.registered([&mac]);
    }

    pub(super) async fn load_plans(&mut self) {
        match self.store.list_floor_plans(None, 0, i64::MAX).await {
            Ok(plans) => {
                self.plan_sizes = plans
                    .into_iter()
                    .filter_map(|p| Some((p.id, (p.width_m?, p.height_m?))))
                    .collect();
            }
            Err(err) => tracing::warn!(error = %err, "could not load floor plans"),
        }
    }

    /// Reloads every gateway; the state of a gateway deleted, or now on another plan, is
    /// dropped.
    pub(super) async fn load_gateways(&mut self) {
        let gateways = match self.store.gateway_keys().await {
            Ok(gateways) => gateways,
            Err(err) => return tracing::warn!(error = %err, "could not load gateways"),
        };
        self.gateways.clear();
        self.anchors.clear();
        // A device changed (or the periodic refresh): a failed registration may succeed now.
        self.failed_registrations.clear();
        let mut plans = HashMap::with_capacity(gateways.len());
        for g in gateways {
            plans.insert(g.id, g.floor_plan_id);
            if let Some(mac) = g.mac_address.as_deref().and_then(crate::mac::canonical) {
                self.gateways.insert(GatewayKey::Mac(mac), g.id);
            }
            if let Some(code) = g.code {
                self.gateways.insert(GatewayKey::Code(code), g.id);
            }
            if let (Some(floor_plan_id), Some(x), Some(y)) = (g.floor_plan_id, g.pos_x, g.pos_y) {
                let site = &self.config.positioning;
                let path_loss = PathLoss {
                    rssi_at_1m: g.rssi_at_1m.unwrap_or(site.rssi_at_1m),
                    exponent: g.path_loss_exponent.unwrap_or(site.path_loss_exponent),
                    height_m: site.gateway_height_m,
                };
                self.anchors.insert(
                    g.id,
                    Anchor {
                        floor_plan_id,
                        x,
                        y,
                        path_loss,
                    },
                );
            }
        }
        let stale: Vec<(i64, Ending)> = self
            .gateway_plans
            .iter()
            .filter_map(|(id, old)| match plans.get(id) {
                None => Some((*id, Ending::Gone)),
                Some(new) if new != old => Some((*id, Ending::Close)),
                Some(_) => None,
            })
            .collect();
        for (id, ending) in stale {
            self.forget_gateway(id, ending);
        }
        self.gateway_plans = plans;
    }

    /// Drops everything the pipeline knows of a tag.
    pub(super) fn forget_tag(&mut self, tag_id: i64, ending: Ending) {
        self.tag_states.remove(&tag_id);
        self.announced.remove(&tag_id);
        self.recorder.forget(tag_id);
        self.last_second.retain(|(tag, _), _| *tag != tag_id);
        self.sessions
            .end(|tag, _| tag == tag_id, ending == Ending::Close);
        self.view.forget_position(tag_id);
    }

    /// Drops everything the pipeline knows of a gateway: the tags it heard forget it, and
    /// the tags at it are nowhere until heard again.
    pub(super) fn forget_gateway(&mut self, gateway_id: i64, ending: Ending) {
        let mut lost = Vec::new();
        self.tag_states.retain(|tag, state| {
            if state.forget_gateway(gateway_id) {
                lost.push(*tag);
            }
            !state.is_empty()
        });
        for tag in lost {
            self.announced.remove(&tag);
            self.view.forget_position(tag);
        }
        self.last_second
            .retain(|(_, gateway), _| *gateway != gateway_id);
        self.sessions
            .end(|_, gateway| gateway == gateway_id, ending == Ending::Close);
    }
}
