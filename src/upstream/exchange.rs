//! The upstream exchange: one request to one admitted host. Normalized attempts, hedges,
//! raw passthrough and health probes all send through [`Exchange::send`]; how they
//! differ is said by the fields of [`Outgoing`], never by a copy of this code.
//!
//! In order: take the request's weight from the provider's budget, add marketgate's
//! User-Agent, the provider's headers and API key (and `x-marketgate-via` towards
//! another marketgate), send within the timeout, resynchronise the budget from the
//! provider's used-weight header, set a refused key aside, parse `Retry-After` and
//! classify the answer with the one table in [`classify`]. Recording the outcome
//! (breaker, statistics, bench) is the caller's [`Admitted::finish`] once it knows it:
//! a normalized attempt still has to read and map the body.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, Method, Request, header};

use super::classify::{self, Failure};
use super::{auth, quota, retry_after};
use crate::body::Body;
use crate::body::SharedBody;
use crate::breaker::Outcome;
use crate::candidates::admitted::{Admitted, AttemptRecord, Report};
use crate::config::model::ProviderKind;
use crate::headers::X_MARKETGATE_VIA;
use crate::metrics::Metrics;
use crate::snapshot::Snapshot;
use crate::state::quota::Spent;
use crate::transport::client::{Prepared, SendError, describe};
use crate::transport::upstream_body::UpstreamResponse;

/// What the exchange needs from the app: the snapshot (client, settings) and metrics.
#[derive(Clone, Copy)]
pub struct Exchange<'a> {
    /// The snapshot in force.
    pub snap: &'a Snapshot,
    /// Metric handles.
    pub metrics: &'a Metrics,
    /// `x-marketgate-via` for requests to other marketgates (this instance appended).
    pub via: &'a HeaderValue,
    /// The cluster, whose Redis counts the budgets while it is reachable.
    pub cluster: Option<&'a std::sync::Arc<crate::cluster::Cluster>>,
}

/// One request, as a caller describes it.
pub struct Outgoing {
    /// Method.
    pub method: Method,
    /// Path and query under the host's base path.
    pub path_and_query: String,
    /// The caller's headers (the client's for raw requests).
    pub headers: HeaderMap,
    /// The body.
    pub body: Body,
    /// The client's body, when this is a raw request with one (to tell client faults).
    pub client_body: Option<SharedBody>,
    /// Quota weight of this request.
    pub weight: u32,
    /// Time for the response head.
    pub timeout: Duration,
    /// Set the key aside when the provider answers 401/403. Configured requests only: a
    /// client-chosen raw path may be refused for reasons of its own.
    pub judge_key: bool,
}

/// A request the upstream did not answer usably: the failure, and the response when
/// one arrived (a raw request passes a 4xx on to the client).
#[derive(Debug)]
pub struct Refused {
    /// What went wrong.
    pub failure: Failure,
    /// The response, when there was one.
    pub response: Option<UpstreamResponse>,
}

// === impl Outgoing ===

impl Outgoing {
    /// A GET with no body.
    pub fn get(path_and_query: String, weight: u32, timeout: Duration) -> Self {
        Self {
            method: Method::GET,
            path_and_query,
            headers: HeaderMap::new(),
            body: crate::body::empty(),
            client_body: None,
            weight,
            timeout,
            judge_key: true,
        }
    }
}

// === impl Refused ===

impl Refused {
    /// Largest refusal body read for its excerpt.
    pub const BODY_LIMIT: usize = 16 << 10;

    /// The failure, its detail followed by a short excerpt of a 4xx body (the
    /// provider's own words, `secrets` removed): `HTTP 451: {"code":0,"msg":"Service
    /// unavailable from a restricted location ..."}`.
    pub async fn explained<S: AsRef<str>>(self, secrets: &[S]) -> Failure {
        let Self { mut failure, response } = self;
        if let (Some(resp), Some(400..=499)) = (response, failure.status)
            && let Ok(body) = crate::body::read_capped(resp.into_body(), Self::BODY_LIMIT).await
            && let Some(excerpt) = crate::excerpt::excerpt(&body, secrets)
        {
            failure.detail = format!("{}: {excerpt}", failure.detail);
        }
        failure
    }
}

impl From<Failure> for Refused {
    fn from(failure: Failure) -> Self {
        Self { failure, response: None }
    }
}

// === impl Exchange ===

impl Exchange<'_> {
    /// Takes `weight` from the provider's budgets: the shared ones in Redis while the
    /// cluster reaches it, else this replica's local share.
    async fn take_budget(&self, provider: &crate::snapshot::ProviderRt, weight: u32) -> Result<(), Spent> {
        // While Redis is out, `take` answers `None` at once (or lets one trial call
        // through, whose success brings shared counting back).
        if let Some(c) = self.cluster {
            // Boxed: only clustered replicas wait here, and inline its future would
            // enlarge every request's future (bench/future_sizes.sh).
            if let Some(taken) = Box::pin(c.take(provider, weight)).await {
                if taken.is_err() {
                    self.metrics.quota_skips.with_label_values(&[&provider.cfg.name]).inc();
                }
                return taken;
            }
            let taken = quota::take(provider, weight, self.metrics);
            if taken.is_ok() {
                c.took_locally(provider, weight);
            }
            return taken;
        }
        quota::take(provider, weight, self.metrics)
    }

    /// Sends `out` to the admitted host. `Ok` is a 2xx/3xx response whose body the
    /// caller still has to judge; everything else is a [`Refused`].
    pub async fn send(&self, host: &Admitted<'_>, out: Outgoing) -> Result<UpstreamResponse, Refused> {
        let provider = host.provider;
        if let Err(spent) = self.take_budget(provider, out.weight).await {
            return Err(Failure::new(Outcome::OverQuota, quota::spent_detail(spent, out.weight)).into());
        }
        // The request is built and prepared (its head encoded) outside this frame, which
        // holds only the prepared request and what judging the answer needs: a future is
        // copied whole each time it is handed up a level (bench/future_sizes.sh).
        let (req, timeout, judging) = self.start(host, out)?;
        let sent = self.snap.client.send_prepared(req, timeout).await;
        self.judge(host, judging, sent)
    }

    /// Adds marketgate's and the provider's headers and the API key to `out` and makes
    /// it ready to send within its timeout.
    fn start(&self, host: &Admitted<'_>, out: Outgoing) -> Result<(Prepared, Duration, Judging), Failure> {
        let provider = host.provider;
        let Outgoing { method, path_and_query, mut headers, body, client_body, timeout, judge_key, .. } = out;
        if !headers.contains_key(header::USER_AGENT) {
            headers.insert(header::USER_AGENT, self.snap.user_agent.clone());
        }
        if provider.cfg.kind == ProviderKind::Marketgate {
            headers.insert(X_MARKETGATE_VIA, self.via.clone());
        }
        let (key_index, key_query) = auth::apply(provider, &mut headers);
        let mut pq = path_and_query;
        auth::append_query(&mut pq, key_query);
        let uri = host.host.url.join(&pq).map_err(|e| Failure::not_for_this_provider(e.to_string()))?;
        let mut req = Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        let key_index = key_index.filter(|_| judge_key);
        Ok((self.snap.client.prepare(req), timeout, Judging { client_body, key_index }))
    }

    /// Judges what the client brought back: a send error (or a fault of the client's
    /// body), the budget resynchronised from the answer's headers, its status
    /// classified, a refused key set aside, `Retry-After` read. (`Refused` is large
    /// because it keeps the response; it is what `send` returns, so boxing it here
    /// would only add an allocation per refusal.)
    #[allow(clippy::result_large_err)]
    fn judge(
        &self,
        host: &Admitted<'_>,
        judging: Judging,
        sent: Result<UpstreamResponse, SendError>,
    ) -> Result<UpstreamResponse, Refused> {
        let provider = host.provider;
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) => {
                let timed_out = matches!(e, SendError::Timeout(_));
                let fault = judging.client_body.as_ref().and_then(|b| b.fault(timed_out));
                let mut f = match fault {
                    Some(kind) => Failure::new(classify::client_fault(kind), kind.describe()),
                    None => Failure::new(classify::send_error(&e), describe(&e)),
                };
                f.client_fault = fault;
                return Err(f.into());
            }
        };
        if let Some(used) = quota::sync_from_headers(provider, resp.headers())
            && let Some(c) = self.cluster
        {
            c.sync_used(provider, used);
        }
        let status = resp.status().as_u16();
        let outcome = classify::status(status, &provider.cfg.rate_limit.statuses);
        if outcome == Outcome::Ok {
            return Ok(resp);
        }
        if let (Some(i), 401 | 403) = (judging.key_index, status)
            && outcome != Outcome::RateLimited
        {
            auth::set_aside(provider, i, status, self.metrics);
        }
        let mut f = Failure::new(outcome, format!("HTTP {status}"));
        f.status = Some(status);
        f.retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after::parse(v, SystemTime::now()));
        Err(Refused { failure: f, response: Some(resp) })
    }
}

/// What judging an answer needs from its request.
struct Judging {
    /// The client's body, to tell its faults from the upstream's.
    client_body: Option<SharedBody>,
    /// The key the request carried, when a 401/403 should set it aside.
    key_index: Option<usize>,
}

// === impl Admitted (recording a result) ===

impl Admitted<'_> {
    /// Records how the attempt ended: success, or the failure (a budget that turned out
    /// to be spent gives the host back and counts a skip instead).
    pub fn conclude(self, result: Result<Option<String>, &Failure>) -> AttemptRecord {
        match result {
            Ok(detail) => self.finish(Outcome::Ok, Report { detail, ..Report::default() }),
            Err(f) if f.outcome == Outcome::OverQuota => {
                let provider = self.provider;
                self.release();
                AttemptRecord::skip(provider, Outcome::OverQuota, f.detail.clone())
            }
            Err(f) => AttemptRecord { unlisted: f.unlisted, ..self.finish(f.outcome, report(f)) },
        }
    }
}

/// The report of a failure.
pub fn report(f: &Failure) -> Report {
    Report { detail: Some(f.detail.clone()), retry_after: f.retry_after, status: f.status, ..Report::default() }
}
