//! Process signals: SIGTERM (systemd stop) and SIGINT (Ctrl-C) cancel one token that every
//! long-running part of the appliance watches; and the named handles of those parts, so that
//! stopping says which one panicked or did not stop in time instead of dropping its result.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A spawned long-running task and its name.
pub struct NamedTask<T = ()> {
    name: &'static str,
    handle: JoinHandle<T>,
}

/// How a [`NamedTask`] ended.
#[derive(Debug)]
pub enum TaskEnd<T> {
    Finished(T),
    /// The panic's message.
    Panicked(String),
    /// Aborted, or its runtime went away.
    Cancelled,
    /// Still running when the grace period ended; it is left running.
    Overran,
}

impl<T: Send + 'static> NamedTask<T> {
    pub fn spawn(name: &'static str, task: impl Future<Output = T> + Send + 'static) -> Self {
        NamedTask {
            name,
            handle: tokio::spawn(task),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Waits up to `grace` for the task to end; a panic is logged as an error, an overrun
    /// as a warning, both with the task's name.
    pub async fn join(mut self, grace: Duration) -> TaskEnd<T> {
        let task = self.name;
        match tokio::time::timeout(grace, &mut self.handle).await {
            Ok(Ok(value)) => TaskEnd::Finished(value),
            Ok(Err(err)) if err.is_panic() => {
                let payload = err.into_panic();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|m| (*m).to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(no message)".into());
                tracing::error!(task, panic = %message, "task panicked");
                TaskEnd::Panicked(message)
            }
            Ok(Err(_)) => {
                tracing::warn!(task, "task was cancelled");
                TaskEnd::Cancelled
            }
            Err(_) => {
                tracing::warn!(
                    task,
                    grace_seconds = grace.as_secs_f64(),
                    "task still running after the grace period"
                );
                TaskEnd::Overran
            }
        }
    }
}

/// Cancels `token` on the first SIGTERM or SIGINT.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested");
        token.cancel();
    });
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
