//! News items from several sources made one list: links made canonical (tracking
//! parameters dropped), duplicates removed by link, a search applied to title and
//! summary, newest first. Also the plain text of the HTML that feeds put in titles and
//! summaries.

use std::collections::HashSet;

use super::schema::News;

/// Query parameters that only track where a reader came from.
const TRACKING_PREFIXES: [&str; 3] = ["utm_", "mtm_", "pk_"];
const TRACKING_NAMES: [&str; 10] =
    ["fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "ref_src", "cmpid", "_ga", "igshid"];

/// Longest summary kept, in characters.
pub const SUMMARY_CHARS: usize = 400;

/// `url` without tracking parameters or fragment, scheme and host in lower case.
pub fn canonical_url(url: &str) -> String {
    let url = url.trim();
    let without_fragment = url.split_once('#').map_or(url, |(u, _)| u);
    let (base, query) = without_fragment.split_once('?').unwrap_or((without_fragment, ""));
    let base = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
            let slash = if rest.contains('/') { "/" } else { "" };
            format!("{}://{}{slash}{path}", scheme.to_ascii_lowercase(), host.to_ascii_lowercase())
        }
        None => base.to_owned(),
    };
    let kept: Vec<&str> = query.split('&').filter(|p| !p.is_empty() && !is_tracking(p)).collect();
    if kept.is_empty() { base } else { format!("{base}?{}", kept.join("&")) }
}

fn is_tracking(pair: &str) -> bool {
    let name = pair.split_once('=').map_or(pair, |(n, _)| n).to_ascii_lowercase();
    TRACKING_PREFIXES.iter().any(|p| name.starts_with(p)) || TRACKING_NAMES.contains(&name.as_str())
}

/// What two links to the same article share: the canonical link without scheme,
/// `www.` or a trailing slash.
fn dedupe_key(url: &str) -> String {
    let c = canonical_url(url);
    let rest = c.split_once("://").map_or(c.as_str(), |(_, r)| r);
    let rest = rest.strip_prefix("www.").unwrap_or(rest);
    rest.trim_end_matches('/').to_owned()
}

/// Whether every word of `q` occurs in the item's title, summary or categories
/// (case-insensitive).
pub fn matches(item: &News, q: &str) -> bool {
    let hay = format!("{} {} {}", item.title, item.summary.as_deref().unwrap_or(""), item.categories.join(" "))
        .to_lowercase();
    q.split_whitespace().all(|w| hay.contains(&w.to_lowercase()))
}

/// One merged list (see [`merge`]: deduplicated, newest first) filtered by `q` and cut
/// to `limit`: what a news request takes from the list every request shares.
pub fn search(items: Vec<News>, q: Option<&str>, limit: usize) -> Vec<News> {
    items.into_iter().filter(|n| q.is_none_or(|q| matches(n, q))).take(limit).collect()
}

/// One list from several: links canonical, the first of each link kept (sources
/// listed first win), filtered by `q` (see [`matches`]), newest first, at most `limit`.
pub fn merge(lists: Vec<Vec<News>>, q: Option<&str>, limit: usize) -> Vec<News> {
    let mut seen = HashSet::new();
    let mut out: Vec<News> = Vec::new();
    for item in lists.into_iter().flatten() {
        if q.is_some_and(|q| !matches(&item, q)) {
            continue;
        }
        if seen.insert(dedupe_key(&item.url)) {
            out.push(News { url: canonical_url(&item.url), ..item });
        }
    }
    out.sort_by_key(|n| std::cmp::Reverse(n.published_at));
    out.truncate(limit);
    out
}

/// The text of an HTML fragment, in one linear pass per step: entities decoded first
/// (again while a round still finds one, at most [`DECODE_ROUNDS`]: a feed that escaped
/// its HTML twice, `&amp;lt;script&amp;gt;`, is HTML all the same), then tags removed
/// with the contents of `script` and `style`, whitespace collapsed. A `<` that starts no
/// tag (`a < b`) is text; one that starts a tag never closed ends the text there.
pub fn plain_text(html: &str) -> String {
    let mut decoded = decode_entities(html);
    for _ in 1..DECODE_ROUNDS {
        if !decoded.contains('&') {
            break;
        }
        let again = decode_entities(&decoded);
        if again == decoded {
            break;
        }
        decoded = again;
    }
    collapse(&strip_tags(&decoded))
}

/// Most rounds of entity decoding.
const DECODE_ROUNDS: usize = 3;

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let starts_tag =
            after[1..].chars().next().is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?'));
        if !starts_tag {
            out.push('<');
            rest = &after[1..];
            continue;
        }
        let skip_to = if starts_ci(after, "<script") {
            find_ci(after, "</script").and_then(|i| after[i..].find('>').map(|j| i + j + 1))
        } else if starts_ci(after, "<style") {
            find_ci(after, "</style").and_then(|i| after[i..].find('>').map(|j| i + j + 1))
        } else if after.starts_with("<!--") {
            after.find("-->").map(|i| i + 3)
        } else {
            after.find('>').map(|i| i + 1)
        };
        match skip_to {
            Some(n) => {
                out.push(' ');
                rest = &after[n..];
            }
            None => rest = "",
        }
    }
    out.push_str(rest);
    out
}

fn starts_ci(hay: &str, prefix: &str) -> bool {
    hay.as_bytes().get(..prefix.len()).is_some_and(|h| h.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// Where `needle` (ASCII) first occurs in `hay`, ignoring ASCII case, without copying.
fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let first = n.first()?.to_ascii_lowercase();
    (0..h.len().saturating_sub(n.len() - 1))
        .find(|&i| h[i].to_ascii_lowercase() == first && h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// `&amp;`, `&#8217;`, `&#x27;` and the common named entities decoded.
fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let decoded = after.find(';').filter(|&end| end <= 10).and_then(|end| entity(&after[..end]).map(|c| (c, end)));
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        _ => return None,
    })
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` cut to at most `max` characters at a word boundary, with an ellipsis.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    let at = cut.rfind(' ').filter(|&i| i > max / 2).unwrap_or(cut.len());
    format!("{}…", cut[..at].trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::schema::Ts;

    fn item(title: &str, url: &str, ts: i64) -> News {
        News {
            title: title.into(),
            url: url.into(),
            source: "x".into(),
            published_at: Ts(ts),
            summary: None,
            categories: vec![],
        }
    }

    #[test]
    fn tracking_parameters_and_fragments_go_the_rest_stays() {
        assert_eq!(
            canonical_url(
                "HTTPS://WWW.CoinDesk.com/markets/a/?utm_medium=referral&utm_source=rss&utm_campaign=headlines"
            ),
            "https://www.coindesk.com/markets/a/"
        );
        assert_eq!(canonical_url("https://x.io/a?id=3&fbclid=Q&page=2#top"), "https://x.io/a?id=3&page=2");
        assert_eq!(
            canonical_url("https://cryptopanic.com/news/1/s?mtm_campaign=API-OFA"),
            "https://cryptopanic.com/news/1/s"
        );
    }

    #[test]
    fn the_same_article_from_two_feeds_is_kept_once_newest_first() {
        let a = vec![item("A", "https://www.x.io/a/?utm_source=rss", 1), item("B", "https://x.io/b", 3)];
        let b = vec![item("A again", "http://x.io/a", 2), item("C", "https://y.io/c", 2)];
        let merged = merge(vec![a, b], None, 10);
        let titles: Vec<&str> = merged.iter().map(|n| n.title.as_str()).collect();
        assert_eq!(titles, ["B", "C", "A"]);
        assert_eq!(merged[2].url, "https://www.x.io/a/");
        assert_eq!(merge(vec![merged.clone()], Some("c"), 10).len(), 1);
        assert_eq!(merge(vec![merged], None, 2).len(), 2);
    }

    #[test]
    fn search_words_must_all_appear_in_title_or_summary() {
        let mut n = item("Bitcoin ETF approved", "https://x.io/1", 1);
        n.summary = Some("The SEC said yes.".into());
        assert!(matches(&n, "bitcoin"));
        assert!(matches(&n, "etf SEC"));
        assert!(!matches(&n, "ethereum etf"));
    }

    #[test]
    fn html_becomes_text() {
        assert_eq!(plain_text("<h1>Ripple&#8217;s <b>XRP</b></h1>"), "Ripple’s XRP");
        assert_eq!(plain_text("<p>a&amp;b &lt;c&gt;</p><script>x()</script> d &unknown; e"), "a&b d &unknown; e");
        assert_eq!(plain_text("1 < 2 and 3 > 2"), "1 < 2 and 3 > 2", "a < that starts no tag is text");
        assert_eq!(plain_text("<!-- SC_OFF --><div>Hi&nbsp;there</div>"), "Hi there");
        assert_eq!(shorten("one two three four", 9), "one two…");
    }

    /// A title escaped twice (the review's `T4 &amp;lt;script&amp;gt;...`, as the XML
    /// parser hands it over) is still HTML: no tag survives, nor its script.
    #[test]
    fn escaped_markup_is_not_served_as_text() {
        let title = "T4 &lt;script&gt;alert(10)&lt;/script&gt;";
        assert_eq!(plain_text(title), "T4");
        assert_eq!(plain_text("T5 &amp;lt;img src=x onerror=alert(1)&amp;gt; end"), "T5 end");
        assert_eq!(plain_text("<SCRIPT>x</SCRIPT >after"), "after");
        assert_eq!(plain_text("cut <b unterminated"), "cut");
    }

    /// A megabyte of `<script>` elements and unclosed `<style` openers (each opener used
    /// to lower-case the whole rest of the string: minutes of CPU on this input).
    #[test]
    fn hostile_markup_is_cleaned_in_one_pass() {
        let hostile = "<script>x</script>".repeat(60_000) + &"<style".repeat(20_000);
        assert_eq!(plain_text(&hostile), "");
        assert_eq!(shorten("short", 9), "short");
    }
}
