//! Per-address connection limits: how many connections one IP address holds at once, and
//! how fast it may open new ones (a token bucket that refills `rate` per minute, up to
//! `rate`). One flaky or hostile host cannot take every connection slot, nor keep the
//! password hashing busy with CONNECT after CONNECT.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::Refusal;

pub struct AddressLimits {
    max_connections: usize,
    rate_per_minute: u32,
    by_address: Mutex<HashMap<IpAddr, Address>>,
}

struct Address {
    connections: usize,
    tokens: f64,
    refilled_at: Instant,
}

/// Past this many tracked addresses, idle ones (no connection, full bucket) are dropped.
const PRUNE_ABOVE: usize = 4096;

impl AddressLimits {
    pub fn new(max_connections: usize, rate_per_minute: u32) -> Arc<AddressLimits> {
        Arc::new(AddressLimits {
            max_connections,
            rate_per_minute,
            by_address: Mutex::new(HashMap::new()),
        })
    }

    /// Admits a new connection from `ip`; the slot is held until the returned guard drops.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<AddressSlot, Refusal> {
        let now = Instant::now();
        let rate = f64::from(self.rate_per_minute);
        let mut map = self
            .by_address
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > PRUNE_ABOVE {
            map.retain(|_, a| a.connections > 0 || a.refill(now, rate) < rate);
        }
        let address = map.entry(ip).or_insert(Address {
            connections: 0,
            tokens: rate,
            refilled_at: now,
        });
        if self.max_connections > 0 && address.connections >= self.max_connections {
            return Err(Refusal::TooManyFromAddress);
        }
        if self.rate_per_minute > 0 {
            if address.refill(now, rate) < 1.0 {
                return Err(Refusal::ConnectRateLimited);
            }
            address.tokens -= 1.0;
        }
        address.connections += 1;
        Ok(AddressSlot {
            limits: self.clone(),
            ip,
        })
    }
}

impl Address {
    fn refill(&mut self, now: Instant, rate: f64) -> f64 {
        let minutes = now.duration_since(self.refilled_at).as_secs_f64() / 60.0;
        self.tokens = (self.tokens + minutes * rate).min(rate);
        self.refilled_at = now;
        self.tokens
    }
}

/// A connection's slot of its address.
pub struct AddressSlot {
    limits: Arc<AddressLimits>,
    ip: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut map = self
            .limits
            .by_address
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(address) = map.get_mut(&self.ip) {
            address.connections = address.connections.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_held_to_its_connections_and_rate() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let limits = AddressLimits::new(2, 100);
        let a = limits.admit(ip).unwrap();
        let _b = limits.admit(ip).unwrap();
        assert_eq!(limits.admit(ip).err(), Some(Refusal::TooManyFromAddress));
        assert!(
            limits.admit(other).is_ok(),
            "other addresses are not affected"
        );
        drop(a);
        assert!(
            limits.admit(ip).is_ok(),
            "a closed connection frees its slot"
        );

        let limits = AddressLimits::new(0, 3);
        for _ in 0..3 {
            drop(limits.admit(ip).unwrap());
        }
        assert_eq!(limits.admit(ip).err(), Some(Refusal::ConnectRateLimited));
        assert!(limits.admit(other).is_ok());
    }
}
