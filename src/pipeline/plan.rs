//! What to ask one provider for one normalized request: the symbols it can serve, its
//! ids for them, the template variables, jq globals and quota weight of each upstream
//! request. Pure: `Err(Skip)` explains why the provider cannot take part.

use crate::breaker::Outcome;
use crate::candidates::Skip;
use crate::config::model::{OpMapping, ProviderConfig};
use crate::normalize::jq::Globals;
use crate::normalize::op::Operation;
use crate::normalize::params::OpRequest;
use crate::normalize::template::Vars;

/// The upstream requests one attempt makes (several for `per_symbol` ops).
#[derive(Debug, Clone)]
pub struct Plan {
    /// One entry per upstream request.
    pub requests: Vec<PlannedRequest>,
    /// Canonical symbols covered by this plan (subset of those asked).
    pub symbols: Vec<String>,
    /// Asked symbols this provider has no id for.
    pub unsupported: Vec<String>,
}

/// One upstream request.
#[derive(Debug, Clone)]
pub struct PlannedRequest {
    /// Template variables.
    pub vars: Vars,
    /// jq globals.
    pub globals: Globals,
    /// Quota weight.
    pub weight: u32,
}

// === impl Plan ===

impl Plan {
    /// Plans `req` for `provider`; `now_ms` feeds `$now` and date variables.
    pub fn new(provider: &ProviderConfig, req: &OpRequest, now_ms: i64) -> Result<Self, Skip> {
        if !provider.serves(req.op) {
            return Err(Skip::new(Outcome::Unsupported, format!("no {} mapping", req.op)));
        }
        let mapping = provider.ops.get(&req.op);
        let mut symbols = Vec::new();
        let mut ids = Vec::new();
        let mut unsupported = Vec::new();
        for s in &req.symbols {
            match provider.symbols.id_for(s, &req.vs) {
                Some(id) => {
                    symbols.push(s.clone());
                    ids.push(id);
                }
                None => unsupported.push(s.clone()),
            }
        }
        if req.op.takes_symbols() && symbols.is_empty() {
            return Err(Skip::new(Outcome::Unsupported, format!("no id for {}", unsupported.join(","))));
        }
        if let Some(quotes) = mapping.and_then(|m| m.quotes.as_ref())
            && req.op.takes_symbols()
            && !quotes.contains(&req.vs)
        {
            let detail = format!("{} {} serves only {} quotes", provider.name, req.op, quotes.join(", "));
            return Err(Skip::new(Outcome::Unsupported, detail));
        }
        let interval_vars = match (req.interval, mapping) {
            (Some(interval), Some(m)) if !m.intervals.is_empty() => Some(
                m.intervals
                    .get(&interval)
                    .ok_or_else(|| Skip::new(Outcome::Unsupported, format!("no {} interval", interval.as_str())))?,
            ),
            _ => None,
        };
        let quote = provider.symbols.quote_for(&req.vs).to_owned();
        let base = Base { req, quote: &quote, now_ms, interval_vars, mapping };
        let per_symbol = mapping.is_some_and(|m: &OpMapping| m.per_symbol);
        let requests = if per_symbol {
            symbols
                .iter()
                .zip(&ids)
                .map(|(s, id)| base.request(std::slice::from_ref(s), std::slice::from_ref(id)))
                .collect()
        } else {
            vec![base.request(&symbols, &ids)]
        };
        Ok(Self { requests, symbols, unsupported })
    }

    /// Quota weight of the whole plan (every request of a `per_symbol` op).
    pub fn weight(&self) -> u32 {
        self.requests.iter().map(|r| r.weight).fold(0u32, u32::saturating_add)
    }
}

struct Base<'a> {
    req: &'a OpRequest,
    quote: &'a str,
    now_ms: i64,
    interval_vars: Option<&'a std::collections::BTreeMap<String, String>>,
    mapping: Option<&'a OpMapping>,
}

impl Base<'_> {
    fn request(&self, symbols: &[String], ids: &[String]) -> PlannedRequest {
        let req = self.req;
        let interval_ms = req.interval.map(|i| i.millis());
        let limit = req.limit.map(i64::from);
        let now_s = self.now_ms / 1000;
        let span_ms = interval_ms.unwrap_or(86_400_000) * limit.unwrap_or(1);
        let start_ms = self.now_ms - span_ms;
        let mut v = Vars::default();
        v.set("symbol", symbols.first().cloned().unwrap_or_default());
        v.set("symbols", symbols.join(","));
        v.set("id", ids.first().cloned().unwrap_or_default());
        v.set("ids", ids.join(","));
        v.set("ids_json", serde_json::to_string(ids).unwrap_or_default());
        v.set("vs", req.vs.clone());
        v.set("vs_lower", req.vs.to_ascii_lowercase());
        v.set("quote", self.quote);
        v.set("quote_lower", self.quote.to_ascii_lowercase());
        v.set("interval", req.interval.map_or("", |i| i.as_str()));
        if let Some(extra) = self.interval_vars {
            for (k, val) in extra {
                v.set(k, val.clone());
            }
        }
        // A provider's documented maximum is never exceeded: the request asks for less,
        // and the answer's meta says how much was served.
        let clamp = |asked: Option<u32>, max: Option<u32>| match (asked, max) {
            (Some(a), Some(m)) => Some(a.min(m)),
            (a, _) => a,
        };
        let (max_limit, max_depth) = self.mapping.map_or((None, None), |m| (m.max_limit, m.max_depth));
        v.set("limit", clamp(req.limit, max_limit).map(|l| l.to_string()).unwrap_or_default());
        v.set("depth", clamp(req.depth, max_depth).map(|d| d.to_string()).unwrap_or_default());
        v.set("q", req.q.clone().unwrap_or_default());
        v.set("now_s", now_s.to_string());
        v.set("now_ms", self.now_ms.to_string());
        v.set("start_s", (start_ms / 1000).to_string());
        v.set("start_ms", start_ms.to_string());
        v.set("start_date", crate::calendar::date(start_ms / 1000));
        let globals = Globals {
            now: self.now_ms,
            symbols: symbols.to_vec(),
            ids: ids.to_vec(),
            symbol_of: ids.iter().cloned().zip(symbols.iter().cloned()).collect(),
            vs: req.vs.clone(),
            quote: self.quote.to_owned(),
            interval: req.interval.map(|i| i.as_str()),
            interval_ms,
            limit,
            depth: req.depth,
            q: req.q.clone(),
        };
        let weight = self.mapping.map_or(1, |m| m.weight.of(|name| Some(v.get(name))));
        PlannedRequest { vars: v, globals, weight }
    }
}

/// The `/v1/<op>?...` request a `kind = "marketgate"` provider gets.
pub fn marketgate_path(req: &OpRequest, symbols: &[String]) -> String {
    let mut q: Vec<(String, String)> = Vec::new();
    match req.op {
        Operation::Price => q.push(("symbols".into(), symbols.join(","))),
        op if op.takes_symbols() => q.push(("symbol".into(), symbols.join(","))),
        _ => {}
    }
    if matches!(
        req.op,
        Operation::Price | Operation::Ticker | Operation::Ohlcv | Operation::Orderbook | Operation::Markets
    ) {
        q.push(("vs".into(), req.vs.clone()));
    }
    if let Some(i) = req.interval {
        q.push(("interval".into(), i.as_str().into()));
    }
    if let Some(l) = req.limit {
        q.push(("limit".into(), l.to_string()));
    } else if req.op == Operation::Coins {
        // The whole list is fetched; another marketgate serves it a page at a time.
        let most = crate::normalize::params::limit_bounds(Operation::Coins, None).map_or(1000, |(_, most)| most);
        q.push(("limit".into(), most.to_string()));
    }
    if let Some(d) = req.depth {
        q.push(("depth".into(), d.to_string()));
    }
    if let Some(text) = &req.q {
        q.push(("q".into(), text.clone()));
    }
    Vars::default().path_and_query(&format!("/v1/{}", req.op), &q)
}
