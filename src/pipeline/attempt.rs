//! One normalized attempt on one admitted host: the plan's upstream request(s) through
//! the exchange, each body read (capped) and mapped, the outputs joined and checked
//! against the operation's schema, and the outcome recorded once. Every failure is a
//! [`Failure`] with an outcome class and a detail naming provider, operation and the
//! offending JSON path.

use std::time::Duration;

use futures_util::future::{join_all, try_join_all};
use http::{HeaderValue, header};

use super::mapping;
use super::plan::{Plan, PlannedRequest, marketgate_path};
use crate::body::{ReadError, read_capped};
use crate::breaker::Outcome;
use crate::candidates::Candidate;
use crate::candidates::admitted::{Admitted, AttemptRecord};
use crate::config::model::{FeedSource, OpMapping, ProviderKind};
use crate::normalize::op::Operation;
use crate::normalize::params::OpRequest;
use crate::normalize::schema::{Payload, Price};
use crate::snapshot::ProviderRt;
use crate::upstream::classify::Failure;
use crate::upstream::exchange::{Exchange, Outgoing, Refused};

/// What every attempt of one request shares.
#[derive(Clone, Copy)]
pub struct AttemptCtx<'a> {
    /// The exchange (snapshot, metrics, via).
    pub exchange: Exchange<'a>,
    /// The normalized request.
    pub req: &'a OpRequest,
    /// Wall-clock time of the request, ms (schema checks).
    pub now_ms: i64,
}

/// A finished attempt.
pub struct Finished<'a> {
    /// The provider asked.
    pub provider: &'a ProviderRt,
    /// The host that answered.
    pub host: String,
    /// The attempt, as recorded.
    pub record: AttemptRecord,
    /// The checked payload, or the failure.
    pub result: Result<Checked, Failure>,
}

/// A checked payload and what it lacks.
pub struct Checked {
    /// The payload.
    pub payload: Payload,
    /// Asked symbols it lacks (price).
    pub missing: Vec<String>,
    /// Items left out because they did not fit (news), each `data[i].field: why`.
    pub dropped: Vec<String>,
}

/// Runs one attempt within `timeout` (sends, bodies and mapping included).
pub async fn run<'a>(cx: AttemptCtx<'a>, c: Candidate<'a, Plan>, timeout: Duration) -> Finished<'a> {
    let Candidate { provider, plan, admitted, .. } = c;
    let host = admitted.host.url.label().to_owned();
    let fetched = tokio::time::timeout(timeout, fetch(&cx, &admitted, &plan, timeout)).await;
    let result = fetched
        .unwrap_or_else(|_| {
            Err(Failure::new(Outcome::Timeout, format!("no complete answer within {} ms", timeout.as_millis())))
        })
        .and_then(|(payload, dropped)| {
            let (payload, missing) = cover(payload, cx.req, &provider.cfg.name)?;
            Ok(Checked { payload, missing, dropped })
        });
    let record = match &result {
        Ok(c) => {
            let mut detail = Vec::new();
            if !c.missing.is_empty() {
                detail.push(format!("missing {}", c.missing.join(",")));
            }
            if let Some(first) = c.dropped.first() {
                detail.push(format!("{} item(s) dropped, e.g. {first}", c.dropped.len()));
                cx.exchange
                    .metrics
                    .items_dropped
                    .with_label_values(&[&provider.cfg.name])
                    .inc_by(c.dropped.len() as u64);
            }
            admitted.conclude(Ok((!detail.is_empty()).then(|| detail.join("; "))))
        }
        Err(f) => admitted.conclude(Err(f)),
    };
    Finished { provider, host, record, result }
}

/// How an upstream body becomes the operation's JSON.
#[derive(Clone, Copy)]
enum Decode<'a> {
    /// A provider's jq mapping.
    Mapping(&'a OpMapping),
    /// Another marketgate's envelope.
    Envelope,
    /// An RSS or Atom feed.
    Feed(&'a FeedSource),
}

async fn fetch(
    cx: &AttemptCtx<'_>,
    admitted: &Admitted<'_>,
    plan: &Plan,
    timeout: Duration,
) -> Result<(Payload, Vec<String>), Failure> {
    let provider = admitted.provider;
    let decode = match (provider.cfg.kind, provider.cfg.ops.get(&cx.req.op), provider.cfg.feed.as_ref()) {
        (ProviderKind::Rest, Some(m), _) => Decode::Mapping(m),
        (ProviderKind::Feed, _, Some(f)) => Decode::Feed(f),
        (ProviderKind::Marketgate, _, _) => Decode::Envelope,
        _ => return Err(Failure::not_for_this_provider(format!("{} has no {} mapping", provider.cfg.name, cx.req.op))),
    };
    let requests = plan.requests.iter().map(|planned| one_request(cx, admitted, decode, plan, planned, timeout));
    let (json, mut dropped) = if plan.requests.len() == 1 {
        try_join_all(requests).await?.into_iter().next().unwrap_or_default()
    } else {
        let outputs = per_symbol(join_all(requests).await)?;
        let dropped = outputs.iter().flat_map(|(_, d)| d.iter().cloned()).collect();
        (mapping::concat(outputs.into_iter().map(|(json, _)| json).collect())?, dropped)
    };
    let op = cx.req.op;
    Payload::checked(&json, cx.req, cx.now_ms)
        .map(|(p, more)| {
            dropped.extend(more);
            (p, dropped)
        })
        .map_err(|e| {
            Failure::new(
                Outcome::BadBody,
                format!("{} {op}: mapped output does not fit the schema: {e}", provider.cfg.name),
            )
        })
}

async fn one_request(
    cx: &AttemptCtx<'_>,
    admitted: &Admitted<'_>,
    decode: Decode<'_>,
    plan: &Plan,
    planned: &PlannedRequest,
    timeout: Duration,
) -> Result<Mapped, Failure> {
    let name = &admitted.provider.cfg.name;
    let path = match decode {
        Decode::Mapping(m) => planned.vars.path_and_query(&m.request.path, &m.request.query),
        Decode::Envelope => marketgate_path(cx.req, &plan.symbols),
        Decode::Feed(f) => f.path.clone(),
    };
    let mut out = Outgoing::get(path, planned.weight, timeout);
    let accept = if matches!(decode, Decode::Feed(_)) { FEED_ACCEPT } else { "application/json" };
    out.headers.insert(header::ACCEPT, HeaderValue::from_static(accept));
    out.headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    if let Decode::Mapping(m) = decode {
        for (header_name, tpl) in &m.request.headers {
            if let Ok(v) = HeaderValue::from_str(&planned.vars.header(tpl)) {
                out.headers.insert(header_name.clone(), v);
            }
        }
    }
    let limit = cx.exchange.snap.config.server.max_upstream_body;
    let resp = match cx.exchange.send(admitted, out).await {
        Ok(resp) => resp,
        Err(refused) => return Err(refusal(refused, decode, planned, admitted.provider, cx.req.op).await),
    };
    let body = read_capped(resp.into_body(), limit).await.map_err(|e| match e {
        ReadError::TooLarge { .. } => Failure {
            too_large: true,
            ..Failure::new(Outcome::BadBody, format!("body larger than max_upstream_body ({limit} bytes)"))
        },
        ReadError::Broken(e) => Failure::new(Outcome::ConnectError, crate::transport::client::describe(&*e)),
    })?;
    match decode {
        Decode::Mapping(m) => mapping::map(m, body, &planned.globals, name, cx.req.op).await.map(|j| (j, Vec::new())),
        Decode::Envelope => mapping::unwrap_envelope(&body, name).map(|j| (j, Vec::new())),
        Decode::Feed(f) => mapping::feed(f, body, cx.req, name).await,
    }
}

/// One request's operation JSON, and the items left out on the way (a feed's entries
/// without a title, link or date, its videos).
type Mapped = (String, Vec<String>);

/// The outputs of a `per_symbol` plan: a symbol the provider says it does not list is
/// left out (the answer lists it in `meta.missing`) rather than failing the others; any
/// other failure fails the attempt, and so does every symbol being unlisted (the
/// provider lists none of them).
fn per_symbol(results: Vec<Result<Mapped, Failure>>) -> Result<Vec<Mapped>, Failure> {
    let mut outputs = Vec::with_capacity(results.len());
    let mut unlisted = None;
    for r in results {
        match r {
            Ok(out) => outputs.push(out),
            Err(f) if f.unlisted => unlisted = Some(f),
            Err(f) => return Err(f),
        }
    }
    match (outputs.is_empty(), unlisted) {
        (true, Some(f)) => Err(f),
        _ => Ok(outputs),
    }
}

/// The failure of a refused request. Every 4xx detail carries a short excerpt of the
/// body (secrets removed), so the client and the logs see the provider's own words. A
/// body with a status the mapping reads (`error_statuses`, default 400) goes through the
/// provider's mapping, whose error handling may say the pair is not listed (Binance
/// answers HTTP 400 with `{"code":-1121}`, Coinbase 404 `{"message":"NotFound"}`): then
/// the refusal is [`Failure::unlisted`], with the provider's words as its detail.
/// Another marketgate (the fallback tier) says it with its 400 `unknown_symbol`. Other
/// statuses (401, 403, a 404 the mapping does not claim: a revoked key, a firewall, a
/// moved endpoint) are never read as "not listed": a mapping that tests for missing
/// data would take any error page for that.
async fn refusal(
    refused: Refused,
    decode: Decode<'_>,
    planned: &PlannedRequest,
    provider: &ProviderRt,
    op: Operation,
) -> Failure {
    let name = provider.cfg.name.as_str();
    let status = refused.failure.status.unwrap_or(0);
    let reads = match decode {
        Decode::Mapping(m) => m.error_statuses.contains(&status),
        Decode::Envelope => status == 400,
        Decode::Feed(_) => false,
    };
    let Refused { failure, response: Some(resp) } = refused else { return refused.failure };
    if !reads {
        return Refused { failure, response: Some(resp) }.explained(&provider.secrets()).await;
    }
    let Ok(body) = read_capped(resp.into_body(), Refused::BODY_LIMIT).await else { return failure };
    let said = match decode {
        Decode::Mapping(m) => mapping::map(m, body.clone(), &planned.globals, name, op).await.err(),
        _ => mapping::peer_unlisted(&body, name),
    };
    match said {
        Some(f) if f.unlisted => Failure { status: failure.status, ..f },
        _ => {
            let mut failure = failure;
            if let Some(excerpt) = crate::excerpt::excerpt(&body, &provider.secrets()) {
                failure.detail = format!("{}: {excerpt}", failure.detail);
            }
            failure
        }
    }
}

/// What a feed request accepts.
const FEED_ACCEPT: &str = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5";

/// Keeps only asked symbols, in the order asked, and lists the missing ones. A price
/// answer with none of the asked symbols says nothing about the host: the provider
/// does not list them (a client can ask for any symbol or quote, and must not be able
/// to trip a breaker by doing so).
fn cover(payload: Payload, req: &OpRequest, provider: &str) -> Result<(Payload, Vec<String>), Failure> {
    if req.op != Operation::Price {
        return Ok((payload, Vec::new()));
    }
    let Payload::Price(items) = payload else {
        return Ok((payload, Vec::new()));
    };
    let mut ordered: Vec<Price> = Vec::new();
    let mut missing = Vec::new();
    for s in &req.symbols {
        match items.iter().find(|p| &p.symbol == s) {
            Some(p) => ordered.push(Price { vs: req.vs.clone(), ..p.clone() }),
            None => missing.push(s.clone()),
        }
    }
    if ordered.is_empty() {
        // Not proof that the provider does not list them: a mapping also drops a price
        // that is missing or zero for a moment.
        return Err(Failure::not_for_this_provider(format!(
            "{provider} price: the answer has none of the asked symbols"
        )));
    }
    Ok((Payload::Price(ordered), missing))
}
