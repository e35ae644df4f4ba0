//! Live positions: rebuilt from the stored readings at start, made visible to the API after
//! each round, and announced on the event bus when a tag moved.

use std::time::Duration;

use chrono::Utc;

use super::pipeline::Pipeline;

/// Readings read back at start to rebuild the tags' state, at most.
const RESTORE_READINGS: i64 = 200_000;

impl Pipeline {
    /// Rebuilds the state of the tags heard within the position window from their stored
    /// readings (none when `ingest.raw_readings` is off).
    pub(super) async fn restore_positions(&mut self) {
        let window =
            chrono::Duration::seconds(i64::from(self.config.devices.position_stale_seconds));
        let readings = match self
            .store
            .recent_readings(Utc::now() - window, RESTORE_READINGS)
            .await
        {
            Ok(readings) => readings,
            Err(err) => {
                return tracing::warn!(error = %err, "could not read recent readings back");
            }
        };
        for r in readings {
            let known = self.gateway_plans.contains_key(&r.device_id)
                && self.tag_keys.get(&r.tag_id).is_some_and(|t| t.active);
            if known {
                self.tag_states.entry(r.tag_id).or_default().hear(
                    r.device_id,
                    r.rssi,
                    r.created_at,
                );
                self.moved.push(r.tag_id);
            }
        }
        // These positions are the previous run's, which kept their history.
        self.place(false);
    }

    /// Makes the positions of the tags heard in this round visible to the API, tells the
    /// live stream about tags that moved (another gateway, or visibly on the plan) — at
    /// most every few seconds for a tag that only stays put — and hands the points worth
    /// keeping to the position history.
    pub(super) fn publish_positions(&mut self) {
        self.place(true);
    }

    fn place(&mut self, record: bool) {
        if self.moved.is_empty() {
            return;
        }
        self.moved.sort_unstable();
        self.moved.dedup();
        let mut changed = Vec::new();
        {
            let mut positions = self
                .view
                .positions
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for tag_id in self.moved.drain(..) {
                let Some(position) = self
                    .tag_states
                    .get_mut(&tag_id)
                    .and_then(|s| s.position(tag_id, &self.anchors, &self.plan_sizes))
                else {
                    continue;
                };
                let news = match self.announced.get(&tag_id) {
                    None => true,
                    Some((last, when)) => {
                        let shift = (position.x.unwrap_or(0.0) - last.x.unwrap_or(0.0)).abs()
                            + (position.y.unwrap_or(0.0) - last.y.unwrap_or(0.0)).abs();
                        last.device_id != position.device_id
                            || shift > 0.01
                            || when.elapsed() > Duration::from_secs(5)
                    }
                };
                if record && let Some(point) = self.recorder.offer(&position) {
                    self.round.history.push(point);
                }
                if news {
                    self.announced
                        .insert(tag_id, (position.clone(), std::time::Instant::now()));
                    changed.push(position.clone());
                }
                positions.insert(tag_id, position);
            }
        }

        for position in changed {
            self.events.publish(
                crate::events::EventType::PositionChanged,
                None,
                serde_json::to_value(&position).unwrap_or_default(),
            );
        }
    }
}
