//! A stream's own REST calls (the pair list of `listed`, an order book's snapshot):
//! one GET on the provider's REST hosts, through their breakers and the provider's
//! quota (the request's weight counted), the body read by `read`; a host whose answer
//! cannot be read counts a bad body and the next host is tried.

use std::time::Duration;

use tokio::time::Instant;

use crate::breaker::Outcome;
use crate::candidates::gate;
use crate::candidates::hosts::HostOrder;
use crate::gateway::{Gateway, Via};
use crate::upstream::classify::Failure;
use crate::upstream::exchange::{Exchange, Outgoing, report};

/// Largest body read.
const BODY_LIMIT: usize = 8 << 20;

/// Hosts one call may try.
const HOSTS_PER_CALL: usize = 2;

/// GETs `path` (with its query) from `provider` and reads the body with `read`.
pub async fn get<T>(
    gw: &Gateway,
    provider: &str,
    path: &str,
    weight: u32,
    read: impl Fn(&[u8]) -> Result<T, String>,
) -> Result<T, String> {
    let snap = gw.snapshot();
    let p = snap.provider(provider).ok_or_else(|| format!("no provider {provider}"))?;
    if let Some(why) = &p.cfg.disabled {
        return Err(why.clone());
    }
    let exchange = Exchange { snap: &snap, metrics: &gw.metrics, via: gw.via_out(&Via::Client), cluster: gw.cluster() };
    let mut hosts = HostOrder::new(p, HOSTS_PER_CALL);
    let mut last = format!("{provider}: no host may be asked now");
    loop {
        let now = Instant::now();
        if let Err(skip) = gate::check(p, weight, now) {
            return Err(format!("{provider}: {}", skip.detail));
        }
        let Some(admitted) = hosts.next(&gw.metrics, now) else { return Err(last) };
        let out = Outgoing::get(path.to_owned(), weight, p.cfg.attempt_timeout);
        let failure = match exchange.send(&admitted, out).await {
            Ok(resp) => match crate::body::read_capped(resp.into_body(), BODY_LIMIT).await {
                Ok(body) => match read(&body) {
                    Ok(value) => {
                        admitted.conclude(Ok(None));
                        return Ok(value);
                    }
                    Err(e) => Failure::new(Outcome::BadBody, e),
                },
                Err(e) => Failure::new(Outcome::BadBody, format!("body: {e}")),
            },
            Err(refused) => refused.explained(&p.secrets()).await,
        };
        last = format!("{provider}: {}", failure.detail);
        if failure.outcome == Outcome::OverQuota {
            admitted.conclude(Err(&failure));
            return Err(last);
        }
        admitted.finish(failure.outcome, report(&failure));
    }
}

/// How long to wait before asking again after a failed call.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);
