//! Gateways on first contact: whether the publisher may report for a gateway
//! (`ingest.gateway_binding`), registering an unknown one (`ingest.auto_register_gateways`)
//! within the per-credential limit, and placing it in the building and floor its topic names.

use std::collections::HashMap;
use std::time::Duration;

use super::decode::{GatewayKey, Report};
use super::pipeline::Pipeline;
use super::{Identity, Source};
use crate::config::GatewayBinding;
use crate::store::devices::{BLE_GATEWAY, Device};

/// How long a failed gateway registration is not tried again.
const REGISTRATION_RETRY: Duration = Duration::from_secs(60);
/// Past this many remembered failures, the memory starts afresh.
const FAILED_REGISTRATIONS_KEPT: usize = 10_000;

/// Gateway registrations per credential and minute: a credential that reports ever new
/// gateway MACs registers a few, not thousands (each costs a write and cache updates).
pub(super) struct Registrations {
    per_minute: u32,
    /// Credential (`None`: anonymous) → (start of its current minute, registrations in it).
    windows: HashMap<Option<i64>, (std::time::Instant, u32)>,
}

impl Registrations {
    pub(super) fn new(per_minute: u32) -> Registrations {
        Registrations {
            per_minute,
            windows: HashMap::new(),
        }
    }

    pub(super) fn admit(&mut self, credential: Option<i64>, now: std::time::Instant) -> bool {
        let minute = Duration::from_secs(60);
        self.windows
            .retain(|_, (start, _)| now.duration_since(*start) < minute);
        let (_, count) = self.windows.entry(credential).or_insert((now, 0));
        if *count >= self.per_minute {
            return false;
        }
        *count += 1;
        true
    }
}

impl Pipeline {
    /// Whether the publisher may report for this gateway (`ingest.gateway_binding`). Only
    /// the embedded broker knows who published: external mode is not bound.
    pub(super) fn bound(&self, report: &Report, identity: &Identity) -> bool {
        if identity.source != Source::Embedded {
            return true;
        }
        match self.config.ingest.gateway_binding {
            GatewayBinding::None => true,
            GatewayBinding::ClientId => report.gateway.is_named_by(&identity.client_id),
            GatewayBinding::Username => identity
                .username
                .as_deref()
                .is_some_and(|name| report.gateway.is_named_by(name)),
        }
    }

    /// The gateway's device id: from the cache, or registered on first contact (unless the
    /// site accepts known gateways only).
    pub(super) async fn gateway(&mut self, report: &Report, identity: &Identity) -> Option<i64> {
        if let Some(id) = self.gateways.get(&report.gateway) {
            return Some(*id);
        }
        let now = std::time::Instant::now();
        let failed_recently = self
            .failed_registrations
            .get(&report.gateway)
            .is_some_and(|until| *until > now);
        if !self.config.ingest.auto_register_gateways || failed_recently {
            self.metrics
                .ingest_unknown_gateways
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return None;
        }
        if !self.registrations.admit(identity.credential_id, now) {
            self.metrics
                .ingest_registrations_limited
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return None;
        }
        let (building_id, floor_id) = self.placement(report).await;
        let device = match &report.gateway {
            GatewayKey::Mac(mac) => Device {
                name: format!("Gateway {mac}"),
                code: Some(format!("GW_{}", mac.as_str())),
                mac_address: Some(mac.as_str().to_string()),
                ..Device::default()
            },
            GatewayKey::Code(code) => Device {
                name: code.clone(),
                code: Some(code.clone()),
                ..Device::default()
            },
        };
        let device = Device {
            device_type: BLE_GATEWAY.into(),
            description: Some("Auto-created from MQTT".into()),
            building_id,
            floor_id,
            ..device
        };
        match self.store.save_device(&device).await {
            Ok(saved) => {
                tracing::info!(
                    gateway = saved.name,
                    id = saved.id,
                    "gateway registered on first contact"
                );
                self.metrics
                    .ingest_gateways_registered
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let event = crate::events::EventType::DeviceCreated;
                let payload = crate::events::payload::device(&saved, event);
                self.events.publish(event, None, payload);
                self.gateways.insert(report.gateway.clone(), saved.id);
                self.gateway_plans.insert(saved.id, saved.floor_plan_id);
                Some(saved.id)
            }
            Err(err) => {
                // The MAC or code belongs to another kind of device, or was registered
                // meanwhile: reload, and refuse this message if it still does not resolve.
                tracing::warn!(error = %err, gateway = ?report.gateway, "could not register a gateway");
                self.metrics
                    .ingest_registration_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.load_gateways().await;
                let id = self.gateways.get(&report.gateway).copied();
                if id.is_none() {
                    self.metrics
                        .ingest_unknown_gateways
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    // Not again for a while: each attempt costs a write and a reload.
                    if self.failed_registrations.len() >= FAILED_REGISTRATIONS_KEPT {
                        self.failed_registrations.clear();
                    }
                    self.failed_registrations
                        .insert(report.gateway.clone(), now + REGISTRATION_RETRY);
                }
                id
            }
        }
    }

    /// Building and floor named by the long topic grammar: the building by code
    /// (case-insensitive) or name, the floor by level or name.
    pub(super) async fn placement(&self, report: &Report) -> (Option<i64>, Option<i64>) {
        let Some(building_name) = &report.placement.building else {
            return (None, None);
        };
        let Ok(buildings) = self.store.list_buildings(0, i64::MAX).await else {
            return (None, None);
        };
        let building = buildings
            .iter()
            .find(|b| b.code.eq_ignore_ascii_case(building_name))
            .or_else(|| {
                buildings.iter().find(|b| {
                    slug(&b.name) == slug(building_name) || slug(&b.code) == slug(building_name)
                })
            });
        let Some(building) = building else {
            return (None, None);
        };
        let Some(floor_name) = &report.placement.floor else {
            return (Some(building.id), None);
        };
        let floors = self
            .store
            .list_floors(Some(building.id), 0, i64::MAX)
            .await
            .unwrap_or_default();
        let level: Option<i32> = floor_name.parse().ok();
        let floor = floors
            .iter()
            .find(|f| level.is_some() && f.level == level)
            .or_else(|| floors.iter().find(|f| slug(&f.name) == slug(floor_name)));
        (Some(building.id), floor.map(|f| f.id))
    }
}

/// `Prédio A` → `predio-a`: lower case, ASCII letters and digits, runs of anything else as
/// one `-`.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.trim().chars().filter_map(fold_accent) {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// The unaccented letter of common Latin accented letters (Portuguese, Spanish, French).
fn fold_accent(c: char) -> Option<char> {
    let folded = match c {
        'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
        'Á' | 'À' | 'Â' | 'Ã' | 'Ä' => 'A',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'É' | 'È' | 'Ê' | 'Ë' => 'E',
        'í' | 'ì' | 'î' | 'ï' => 'i',
        'Í' | 'Ì' | 'Î' | 'Ï' => 'I',
        'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
        'Ó' | 'Ò' | 'Ô' | 'Õ' | 'Ö' => 'O',
        'ú' | 'ù' | 'û' | 'ü' => 'u',
        'Ú' | 'Ù' | 'Û' | 'Ü' => 'U',
        'ç' => 'c',
        'Ç' => 'C',
        'ñ' => 'n',
        'Ñ' => 'N',
        other => other,
    };
    Some(folded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_are_limited_per_credential_and_minute() {
        let mut limits = Registrations::new(2);
        let now = std::time::Instant::now();
        assert!(limits.admit(Some(1), now) && limits.admit(Some(1), now));
        assert!(!limits.admit(Some(1), now), "a third in the minute");
        assert!(
            limits.admit(Some(2), now) && limits.admit(None, now),
            "others have their own"
        );
        assert!(
            limits.admit(Some(1), now + Duration::from_secs(61)),
            "the next minute"
        );
    }

    #[test]
    fn slugs_match_building_names_the_way_people_write_them() {
        assert_eq!(slug("Prédio A"), "predio-a");
        assert_eq!(slug("  PREDIO_a "), "predio-a");
        assert_eq!(slug("Andar 1 — Recepção"), "andar-1-recepcao");
    }
}
