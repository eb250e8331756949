//! Route templates: `/v1/price`, `/api/news/{q}`, `/raw/{provider}/{*path}` (pure).

use std::cmp::Ordering;

/// One segment of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Static(String),
    Param(String),
    /// `{*name}`: the rest of the path (possibly empty), only last.
    Rest(String),
}

/// A parsed route template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    template: String,
    segments: Vec<Segment>,
}

/// Path parameters captured by a match, in the template's order. A template has a few
/// (no name twice, `parse` refuses that), so a list is looked through: a map cost a
/// proxied request 500 instructions (bench/instructions.sh).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

// === impl Params ===

impl Params {
    /// No parameters.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&String> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Adds `name` (which the template names once).
    fn push(&mut self, name: &str, value: String) {
        self.0.push((name.to_owned(), value));
    }
}

impl FromIterator<(String, String)> for Params {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

// === impl Pattern ===

impl Pattern {
    /// Parses a template; errors say what is wrong with it.
    pub fn parse(template: &str) -> Result<Self, String> {
        let Some(body) = template.strip_prefix('/') else {
            return Err(format!("route {template:?} must start with '/'"));
        };
        let mut segments = Vec::new();
        let parts: Vec<&str> = if body.is_empty() { Vec::new() } else { body.split('/').collect() };
        for (i, part) in parts.iter().enumerate() {
            let seg = if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                if let Some(name) = inner.strip_prefix('*') {
                    if i + 1 != parts.len() {
                        return Err(format!("route {template:?}: {{*{name}}} must be the last segment"));
                    }
                    Segment::Rest(check_name(template, name)?)
                } else {
                    Segment::Param(check_name(template, inner)?)
                }
            } else if part.is_empty() || part.contains(['{', '}']) {
                return Err(format!("route {template:?}: segment {part:?} is empty or has a stray brace"));
            } else {
                Segment::Static((*part).to_owned())
            };
            if let Segment::Param(n) | Segment::Rest(n) = &seg {
                let dup = segments.iter().any(|s| matches!(s, Segment::Param(m) | Segment::Rest(m) if m == n));
                if dup {
                    return Err(format!("route {template:?}: parameter {{{n}}} appears twice"));
                }
            }
            segments.push(seg);
        }
        Ok(Self { template: template.to_owned(), segments })
    }

    /// The template as written (used as the `route` metric label).
    pub fn template(&self) -> &str {
        &self.template
    }

    /// The names of the template's parameters, in order.
    pub fn param_names(&self) -> Vec<String> {
        self.segments
            .iter()
            .filter_map(|s| match s {
                Segment::Param(n) | Segment::Rest(n) => Some(n.clone()),
                Segment::Static(_) => None,
            })
            .collect()
    }

    /// Whether the template has a parameter named `name`.
    pub fn has_param(&self, name: &str) -> bool {
        self.segments.iter().any(|s| matches!(s, Segment::Param(n) | Segment::Rest(n) if n == name))
    }

    /// Matches a request path (already split from its query). Parameter values are
    /// percent-decoded, except a `{*rest}` which is kept as sent. A path that does not
    /// match costs no allocation (every request is tried against the routes in turn).
    pub fn matches(&self, path: &str) -> Option<Params> {
        let body = path.strip_prefix('/')?;
        if !self.fits(body) {
            return None;
        }
        let mut params = Params::new();
        let mut parts = parts(body);
        for seg in &self.segments {
            match seg {
                Segment::Rest(name) => {
                    let rest = parts.next().map_or("", |(at, _)| &body[at..]);
                    params.push(name, rest.to_owned());
                    break;
                }
                Segment::Static(_) => {
                    parts.next();
                }
                Segment::Param(name) => {
                    let raw = parts.next().map_or("", |(_, p)| p);
                    let value = percent_encoding::percent_decode_str(raw).decode_utf8().ok()?;
                    params.push(name, value.into_owned());
                }
            }
        }
        Some(params)
    }

    /// Whether `body` (the path after its `/`) has the template's shape, checked without
    /// allocating.
    fn fits(&self, body: &str) -> bool {
        let mut parts = parts(body);
        for seg in &self.segments {
            match (seg, parts.next()) {
                (Segment::Rest(_), _) => return true,
                (Segment::Static(s), Some((_, p))) if p == s => {}
                // Decoded (and refused when not UTF-8) by `matches`, once.
                (Segment::Param(_), Some((_, p))) if !p.is_empty() => {}
                _ => return false,
            }
        }
        parts.next().is_none()
    }

    /// Orders templates most specific first: static beats a parameter, which beats the
    /// end of the template, which beats a `{*rest}`.
    pub fn specificity_cmp(&self, other: &Self) -> Ordering {
        let rank = |s: Option<&Segment>| match s {
            Some(Segment::Static(_)) => 0,
            Some(Segment::Param(_)) => 1,
            None => 2,
            Some(Segment::Rest(_)) => 3,
        };
        let n = self.segments.len().max(other.segments.len());
        (0..n)
            .map(|i| rank(self.segments.get(i)).cmp(&rank(other.segments.get(i))))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

/// The `/`-separated parts of a path body with their byte offsets (none for "").
fn parts(body: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut at = 0;
    crate::split::pieces(body, b'/').filter(move |_| !body.is_empty()).map(move |p| {
        let start = at;
        at += p.len() + 1;
        (start, p)
    })
}

fn check_name(template: &str, name: &str) -> Result<String, String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("route {template:?}: parameter name {name:?} must be letters, digits or _"));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: &str) -> Pattern {
        Pattern::parse(t).expect(t)
    }

    /// The matcher as first written (split into a list, join the rest), kept as the
    /// reference the allocation-free one must agree with.
    fn reference(pat: &Pattern, path: &str) -> Option<Params> {
        let body = path.strip_prefix('/')?;
        let parts = if body.is_empty() { Vec::new() } else { body.split('/').collect::<Vec<_>>() };
        let mut params = Params::new();
        for (i, seg) in pat.segments.iter().enumerate() {
            match seg {
                Segment::Rest(name) => {
                    params.push(name, parts.get(i..).map(|p| p.join("/")).unwrap_or_default());
                    return Some(params);
                }
                Segment::Static(s) if parts.get(i) != Some(&s.as_str()) => return None,
                Segment::Static(_) => {}
                Segment::Param(name) => {
                    let raw = parts.get(i).filter(|p| !p.is_empty())?;
                    let value = percent_encoding::percent_decode_str(raw).decode_utf8().ok()?;
                    params.push(name, value.into_owned());
                }
            }
        }
        (parts.len() <= pat.segments.len()).then_some(params)
    }

    proptest::proptest! {
        #[test]
        fn matching_agrees_with_the_reference(
            parts in proptest::collection::vec("(v1|raw|x|%2F|%FF|a%20b|)", 0..6),
            lead in proptest::bool::ANY,
        ) {
            let path = format!("{}{}", if lead { "/" } else { "" }, parts.join("/"));
            for t in ["/", "/v1", "/v1/{q}", "/raw/{provider}/{*path}", "/{*all}", "/v1/{a}/x", "/x/{a}/{b}"] {
                let pat = p(t);
                proptest::prop_assert_eq!(pat.matches(&path), reference(&pat, &path), "{} on {:?}", t, path);
            }
        }
    }

    #[test]
    fn static_routes_match_exactly() {
        assert_eq!(p("/v1/price").matches("/v1/price"), Some(Params::new()));
        assert_eq!(p("/v1/price").matches("/v1/price/x"), None);
        assert_eq!(p("/v1/price").matches("/v1"), None);
        assert_eq!(p("/").matches("/"), Some(Params::new()));
    }

    #[test]
    fn params_are_captured_and_decoded() {
        let m = p("/api/news/{q}").matches("/api/news/bitcoin%20etf").expect("match");
        assert_eq!(m.get("q").map(String::as_str), Some("bitcoin etf"));
        assert_eq!(m.get("other"), None);
        assert_eq!(p("/api/news/{q}").matches("/api/news/"), None);
    }

    #[test]
    fn rest_captures_the_tail_verbatim() {
        let m = p("/raw/{provider}/{*path}").matches("/raw/binance/api/v3/ticker%2Fprice").expect("match");
        let get = |m: &Params, n: &str| m.get(n).cloned();
        assert_eq!(get(&m, "provider").as_deref(), Some("binance"));
        assert_eq!(get(&m, "path").as_deref(), Some("api/v3/ticker%2Fprice"));
        let m = p("/raw/{provider}/{*path}").matches("/raw/binance").expect("empty rest");
        assert_eq!(get(&m, "path").as_deref(), Some(""));
    }

    #[test]
    fn bad_templates_are_explained() {
        for bad in ["v1/price", "/a/{*x}/b", "/a/{x}/{x}", "/a//b", "/a/{}", "/a/{x"] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn static_routes_sort_before_parameters() {
        let mut v = [p("/raw/{provider}/{*path}"), p("/raw/binance/{*path}")];
        v.sort_by(Pattern::specificity_cmp);
        assert_eq!(v[0].template(), "/raw/binance/{*path}");
        let mut v = [p("/api/{x}"), p("/api/exchanges"), p("/api/{x}/{*rest}")];
        v.sort_by(Pattern::specificity_cmp);
        let order: Vec<_> = v.iter().map(Pattern::template).collect();
        assert_eq!(order, vec!["/api/exchanges", "/api/{x}", "/api/{x}/{*rest}"]);
    }
}
