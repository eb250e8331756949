//! The REST fallback: while no stream host is reachable, every wanted pair's ticker is
//! fetched through the stream route's normalized `fallback` route (its pool, cache,
//! breakers and quotas) every `poll`, and handed to the driver as ticker messages.
//! The same route tells, when a client joins, whether the providers list its pairs.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

use super::driver::Control;
use super::message::Payload;
use crate::error::{ErrorKind, ProxyError};
use crate::gateway::{Gateway, Via};
use crate::normalize::schema::{Payload as NormalizedPayload, Ticker};
use crate::pipeline::{Call, Reply, fetch};
use crate::routing::pattern::Params;
use crate::sync::lock;

/// Polls until aborted (the driver aborts it when the stream resumes) or the gateway
/// is gone.
pub async fn poll(
    gw: Weak<Gateway>,
    path: String,
    every: Duration,
    pairs: Arc<Mutex<Vec<(String, String)>>>,
    ctl: mpsc::WeakUnboundedSender<Control>,
) {
    loop {
        let Some(gateway) = gw.upgrade() else { return };
        let list = lock(&pairs).clone();
        for (symbol, vs) in list {
            match ticker(&gateway, &path, &symbol, &vs).await {
                Ok(msg) => {
                    let Some(tx) = ctl.upgrade() else { return };
                    let _ = tx.send(Control::Polled { symbol, vs, msg });
                }
                Err(e) => tracing::debug!(%symbol, %vs, error = %e, "stream fallback poll failed"),
            }
        }
        drop(gateway);
        tokio::time::sleep(every).await;
    }
}

async fn ticker(gw: &Gateway, path: &str, symbol: &str, vs: &str) -> Result<bytes::Bytes, String> {
    let reply = ask(gw, path, symbol, vs).await.map_err(|e| e.message)?;
    let (ticker, provider) = match reply {
        Reply::Fresh { answer, .. } => match answer.payload {
            NormalizedPayload::Ticker(t) => (t, answer.provider),
            _ => return Err(format!("{path} answered another operation")),
        },
        Reply::Cached { entry, .. } => {
            let t: Ticker = serde_json::from_slice(&entry.data).map_err(|e| format!("cached {path} answer: {e}"))?;
            (t, entry.provider.clone())
        }
    };
    // The client's own names (TON, not the GRAM it was fetched as).
    let ticker = Ticker { symbol: symbol.to_owned(), vs: vs.to_owned(), ..ticker };
    Ok(Payload::Ticker(ticker).encode(&provider))
}

/// Whether the providers list `symbol`/`vs`, asked through the fallback route (its
/// cache makes a second client's check free). Only their answer that none of them
/// lists it refuses the stream (400 `unknown_symbol`, which a WebSocket client gets
/// before its upgrade); a failure or no answer within `within` lets the stream start,
/// since the stream may well work while REST does not. The request runs in its own
/// task: one that outlives `within` still finishes (and fills or lets go of the
/// caches it leads) rather than being dropped mid-fetch.
pub async fn check_listed(
    gw: &Arc<Gateway>,
    path: &str,
    symbol: &str,
    vs: &str,
    within: Duration,
) -> Result<(), ProxyError> {
    let (gw, path, symbol, vs) = (Arc::clone(gw), path.to_owned(), symbol.to_owned(), vs.to_owned());
    let asked = tokio::spawn(async move {
        match ask(&gw, &path, &symbol, &vs).await {
            Err(e) if e.kind == ErrorKind::UnknownSymbol => Some(e),
            _ => None,
        }
    });
    match tokio::time::timeout(within, asked).await {
        Ok(Ok(Some(unlisted))) => Err(unlisted),
        _ => Ok(()),
    }
}

/// One request to the normalized fallback route, as a client's would be, answered as
/// data (no envelope to parse back).
async fn ask(gw: &Gateway, path: &str, symbol: &str, vs: &str) -> Result<Reply, ProxyError> {
    let snap = gw.snapshot();
    let Some(route) = snap.routes.iter().find(|r| r.cfg.pattern.template() == path) else {
        return Err(ProxyError::new(ErrorKind::NoRoute, format!("no route {path}")));
    };
    let query = format!("symbol={symbol}&vs={vs}");
    let params = Params::new();
    let call = Call { route, query: Some(&query), params: &params, via: &Via::Client };
    fetch(gw, &snap, call).await.map(|(_, reply)| reply)
}
