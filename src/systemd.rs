//! systemd's service protocol (`sd_notify`): `READY=1` once the appliance serves, `STATUS=`
//! lines an operator sees in `systemctl status`, `STOPPING=1`, and the watchdog keep-alive
//! `WATCHDOG=1`, sent only while the database answers, the MQTT router routes and the ingest
//! pipeline turns — so that a process that is alive but stuck is restarted by systemd.
//!
//! Written against the protocol (a datagram per message to `$NOTIFY_SOCKET`) rather than a
//! crate: it is a dozen lines, and a no-op when systemd did not start us.

use std::future::Future;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Where systemd listens for this service's notifications.
pub struct Notifier {
    socket: UnixDatagram,
    address: std::os::unix::net::SocketAddr,
}

impl Notifier {
    /// The notifier systemd gave us in `NOTIFY_SOCKET`, if any (a path, or `@name` for an
    /// abstract socket).
    pub fn from_env() -> Option<Notifier> {
        let path = std::env::var_os("NOTIFY_SOCKET")?;
        let address = match path.as_encoded_bytes() {
            [b'@', name @ ..] => {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name)
            }
            _ => std::os::unix::net::SocketAddr::from_pathname(&path),
        };
        let notifier = address
            .and_then(|address| Ok((UnixDatagram::unbound()?, address)))
            .map(|(socket, address)| Notifier { socket, address });
        match notifier {
            Ok(notifier) => Some(notifier),
            Err(err) => {
                tracing::warn!(error = %err, "NOTIFY_SOCKET is set but unusable; not notifying systemd");
                None
            }
        }
    }

    /// Sends one notification (`READY=1`, `STATUS=…`, …). A lost notification is logged,
    /// never fatal: the service manager's timeouts cover it.
    pub fn send(&self, state: &str) {
        if let Err(err) = self.socket.send_to_addr(state.as_bytes(), &self.address) {
            tracing::warn!(error = %err, "notifying systemd failed");
        }
    }
}

/// While a long step before `READY=1` runs (the backup and the migrations of an upgrade),
/// systemd hears that the start is progressing: `STATUS=` at once, then every 30 s an
/// `EXTEND_TIMEOUT_USEC=` granting 90 s more, so that `TimeoutStartSec` does not stop the
/// upgrade of a large database half-way and start it again (systemd 236 or later; older ones
/// ignore the extension). The extensions stop after four hours: a step stuck that long (a
/// lock never granted) is then ended by the start's timeout, as without them.
pub async fn extending_start<T>(status: &str, work: impl Future<Output = T>) -> T {
    const EVERY: Duration = Duration::from_secs(30);
    const GRANTED: Duration = Duration::from_secs(90);
    const LONGEST: Duration = Duration::from_secs(4 * 3600);
    let Some(notifier) = Notifier::from_env() else {
        return work.await;
    };
    let message = format!(
        "STATUS={status}\nEXTEND_TIMEOUT_USEC={}",
        GRANTED.as_micros()
    );
    notifier.send(&message);
    let began = tokio::time::Instant::now();
    let mut ticks = tokio::time::interval_at(began + EVERY, EVERY);
    tokio::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = ticks.tick(), if began.elapsed() < LONGEST => notifier.send(&message),
        }
    }
}

/// The watchdog period systemd expects keep-alives within (`WATCHDOG_USEC`), when the
/// watchdog is on and meant for this process (`WATCHDOG_PID`, when set, is ours).
pub fn watchdog_period() -> Option<Duration> {
    if let Some(pid) = std::env::var_os("WATCHDOG_PID")
        && pid.to_str().and_then(|p| p.parse::<u32>().ok()) != Some(std::process::id())
    {
        return None;
    }
    let usec = std::env::var("WATCHDOG_USEC").ok()?.parse::<u64>().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Keeps systemd informed until `shutdown`: every third of the watchdog period (or every
/// 30 s without a watchdog, for the status line), runs `check`; when it passes, sends
/// `WATCHDOG=1` (if the watchdog is on) and its status line; when it fails, sends the
/// failure as the status and withholds the keep-alive, so that systemd restarts a process
/// that stays stuck for a whole period.
pub async fn supervise<F, Fut>(notifier: Notifier, check: F, shutdown: CancellationToken)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<String, String>>,
{
    let watchdog = watchdog_period();
    let every = watchdog.map_or(Duration::from_secs(30), |period| period / 3);
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = shutdown.cancelled() => break,
        }
        match check().await {
            Ok(status) if watchdog.is_some() => {
                notifier.send(&format!("WATCHDOG=1\nSTATUS={status}"));
            }
            Ok(status) => notifier.send(&format!("STATUS={status}")),
            Err(problem) => {
                tracing::warn!(problem = %problem, "health check failed; withholding the systemd watchdog keep-alive");
                notifier.send(&format!("STATUS=Unhealthy: {problem}"));
            }
        }
    }
    notifier.send("STOPPING=1\nSTATUS=Stopping");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_reach_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let address = std::os::unix::net::SocketAddr::from_pathname(&path).unwrap();
        let notifier = Notifier {
            socket: UnixDatagram::unbound().unwrap(),
            address,
        };
        notifier.send("READY=1");
        let mut buffer = [0u8; 64];
        let n = listener.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"READY=1");
    }
}
