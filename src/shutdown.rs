//! The shutdown signal every long-lived task waits on: a `watch` flag that turns true
//! once (set by the gateway's `begin_shutdown`).

/// Resolves once the stop flag is set (the guard of `wait_for` stays inside, so the
/// future is `Send`).
pub async fn stopped(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}
