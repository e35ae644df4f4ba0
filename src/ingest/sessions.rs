//! Presence sessions kept by the pipeline: per (tag, gateway), a session grows while the
//! tag is heard with gaps no longer than the configured gap, and closes after a longer
//! silence (the original computed this view in SQL on every read; here it is kept once,
//! as reports arrive).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::store::presence::SessionWrite;

/// An open session is written again at most this often while it grows.
const REWRITE_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Session {
    started: DateTime<Utc>,
    ended: DateTime<Utc>,
    samples: i32,
    written: Option<Instant>,
    dirty: bool,
}

pub struct Sessions {
    gap: chrono::Duration,
    open: HashMap<(i64, i64), Session>,
    /// Closed sessions waiting to be written.
    closed: Vec<SessionWrite>,
}

impl Sessions {
    pub fn new(gap_seconds: u32) -> Self {
        Sessions {
            gap: chrono::Duration::seconds(i64::from(gap_seconds)),
            open: HashMap::new(),
            closed: Vec::new(),
        }
    }

    pub fn heard(&mut self, tag_id: i64, device_id: i64, at: DateTime<Utc>) {
        let key = (tag_id, device_id);
        if let Some(session) = self.open.get_mut(&key) {
            // Readings out of order (older than the session's end) fall in here too.
            if at - session.ended <= self.gap {
                if at > session.ended {
                    session.ended = at;
                }
                session.samples += 1;
                session.dirty = true;
                return;
            }
            let old = self.open.remove(&key).expect("present");
            self.closed.push(write(key, &old, false));
        }
        self.open.insert(
            key,
            Session {
                started: at,
                ended: at,
                samples: 1,
                written: None,
                dirty: true,
            },
        );
    }

    /// Closes sessions silent for longer than the gap.
    pub fn sweep(&mut self, now: DateTime<Utc>) {
        let gap = self.gap;
        let silent: Vec<(i64, i64)> = self
            .open
            .iter()
            .filter(|(_, s)| now - s.ended > gap)
            .map(|(k, _)| *k)
            .collect();
        for key in silent {
            if let Some(old) = self.open.remove(&key) {
                self.closed.push(write(key, &old, false));
            }
        }
    }

    /// Ends the sessions of the (tag, gateway) pairs `matching` picks: written as closed
    /// when `write`, otherwise forgotten (those of a deleted tag or gateway, whose rows the
    /// database deletes with it).
    pub fn end(&mut self, matching: impl Fn(i64, i64) -> bool, write_them: bool) {
        let ended: Vec<(i64, i64)> = self
            .open
            .keys()
            .filter(|(tag, gateway)| matching(*tag, *gateway))
            .copied()
            .collect();
        for key in ended {
            if let Some(old) = self.open.remove(&key)
                && write_them
            {
                self.closed.push(write(key, &old, false));
            }
        }
        if !write_them {
            self.closed.retain(|w| !matching(w.tag_id, w.device_id));
        }
    }

    /// What has to be written now: closed sessions, new ones, and grown ones not written
    /// for a while.
    pub fn pending(&mut self) -> Vec<SessionWrite> {
        let mut writes = std::mem::take(&mut self.closed);
        for (key, session) in &mut self.open {
            let due = session.written.is_none()
                || (session.dirty
                    && session
                        .written
                        .is_some_and(|w| w.elapsed() >= REWRITE_EVERY));
            if due {
                writes.push(write(*key, session, true));
                session.written = Some(Instant::now());
                session.dirty = false;
            }
        }
        writes
    }
}

fn write((tag_id, device_id): (i64, i64), s: &Session, is_open: bool) -> SessionWrite {
    SessionWrite {
        tag_id,
        device_id,
        started_at: s.started,
        ended_at: s.ended,
        samples: s.samples,
        is_open,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + chrono::Duration::seconds(1_800_000_000 + seconds)
    }

    #[test]
    fn the_gap_rule_opens_and_closes_sessions() {
        let mut sessions = Sessions::new(15);
        for s in [0, 5, 20, 35] {
            sessions.heard(1, 10, t(s)); // gaps of 5, 15, 15: one session
        }
        sessions.heard(1, 10, t(51)); // a gap of 16: a new session
        sessions.heard(1, 11, t(51)); // another gateway: independent
        let writes = sessions.pending();
        let closed: Vec<_> = writes.iter().filter(|w| !w.is_open).collect();
        assert_eq!(closed.len(), 1);
        assert_eq!(
            (closed[0].started_at, closed[0].ended_at, closed[0].samples),
            (t(0), t(35), 4)
        );
        assert_eq!(writes.len() - closed.len(), 2, "two open sessions");
        assert!(sessions.pending().is_empty(), "written: nothing new");
        sessions.sweep(t(51 + 16));
        let writes = sessions.pending();
        assert_eq!(writes.len(), 2);
        assert!(
            writes
                .iter()
                .all(|w| !w.is_open && w.started_at == t(51) && w.samples == 1)
        );
    }
}
