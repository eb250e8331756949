//! An RSS or Atom feed (parsed by feed-rs) as `news` items: the headline and summary as
//! plain text, the article's canonical link, the publication time, the feed's
//! categories (not Arc's `article-type` markers), the outlet as `source`.
//!
//! Item by item: an entry without a title, a link or a date, or one that is a video, is
//! left out and named in the drops, never failing the feed. Bounded: only the first
//! [`MAX_ITEMS`] entries are parsed (the body is cut after the last of them), so a
//! hostile feed of 60,000 entries costs what 500 do.

use std::collections::HashSet;

use feed_rs::model::{Entry, Feed};

use super::news::{self, SUMMARY_CHARS};
use super::schema::{News, Ts};

/// Most entries read from one feed (outlets publish 20 to 100).
pub const MAX_ITEMS: usize = 500;

/// Why a body is not a usable feed.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// Not RSS or Atom at all (or broken XML).
    #[error("not an RSS or Atom feed: {0}")]
    Parse(String),
    /// A feed, but no entry has a title, a link and a date.
    #[error("the feed has {0} entries, none with a title, a link and a date")]
    NoUsableEntries(usize),
}

/// A feed's items, and the entries left out (`entry[i]: why`).
#[derive(Debug, Default)]
pub struct FeedItems {
    /// Newest first, at most the limit asked.
    pub items: Vec<News>,
    /// The entries left out, with why.
    pub dropped: Vec<String>,
}

/// The news items of a feed body. `source` names the outlet (default: the feed's
/// title); `q` keeps items whose title or summary has every word; newest first, at
/// most `limit`.
pub fn news_items(body: &[u8], source: Option<&str>, q: Option<&str>, limit: usize) -> Result<FeedItems, FeedError> {
    let (body, cut) = first_entries(body, MAX_ITEMS);
    let feed = feed_rs::parser::parse(&*body).map_err(|e| FeedError::Parse(e.to_string()))?;
    let source = source.map(str::to_owned).unwrap_or_else(|| feed_title(&feed));
    let total = feed.entries.len();
    let mut dropped = Vec::new();
    let mut items = Vec::with_capacity(total);
    for (i, e) in feed.entries.iter().enumerate() {
        match item(e, &source) {
            Ok(n) => items.push(n),
            Err(why) => dropped.push(format!("entry[{i}]: {why}")),
        }
    }
    if items.is_empty() && total > 0 && dropped.iter().all(|d| !d.ends_with(VIDEO)) {
        return Err(FeedError::NoUsableEntries(total));
    }
    if cut {
        dropped.push(format!("entries after the first {MAX_ITEMS}: not read"));
    }
    Ok(FeedItems { items: news::merge(vec![items], q, limit), dropped })
}

/// The reason a video entry is left out.
const VIDEO: &str = "a video, not an article";

/// The body up to the end of its `max`-th entry, closed as the document was opened
/// (`</channel></rss>`, `</feed>`, `</rdf:RDF>`), and whether anything was cut. A body
/// that has no more entries, or whose root is not recognised, is kept whole.
fn first_entries(body: &[u8], max: usize) -> (std::borrow::Cow<'_, [u8]>, bool) {
    let closers: [&[u8]; 2] = [b"</item>", b"</entry>"];
    let mut seen = 0;
    let mut at = 0;
    while let Some(i) = find(&body[at..], b"</") {
        let here = at + i;
        at = here + 2;
        if let Some(c) = closers.iter().find(|c| body[here..].starts_with(c)) {
            seen += 1;
            if seen == max {
                let end = here + c.len();
                if !body[end..].windows(c.len()).any(|w| w == *c) {
                    return (body.into(), false);
                }
                let head = &body[..end.min(4096)];
                let close: &[u8] = if find(head, b"<rss").is_some() {
                    b"</channel></rss>"
                } else if find(head, b"<feed").is_some() {
                    b"</feed>"
                } else if find(head, b"<rdf:RDF").is_some() {
                    b"</rdf:RDF>"
                } else {
                    return (body.into(), false);
                };
                let mut cut = body[..end].to_vec();
                cut.extend_from_slice(close);
                return (cut.into(), true);
            }
        }
    }
    (body.into(), false)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn feed_title(feed: &Feed) -> String {
    feed.title.as_ref().map(|t| news::plain_text(&t.content)).filter(|t| !t.is_empty()).unwrap_or_else(|| "feed".into())
}

fn item(e: &Entry, source: &str) -> Result<News, &'static str> {
    let title = news::plain_text(&e.title.as_ref().ok_or("no title")?.content);
    let url = link(e).ok_or("no link")?;
    if is_video(e, &url) {
        return Err(VIDEO);
    }
    let published = e.published.or(e.updated).ok_or("no date that can be read")?;
    if title.is_empty() {
        return Err("an empty title");
    }
    let summary_html =
        e.summary.as_ref().map(|t| t.content.as_str()).or_else(|| e.content.as_ref().and_then(|c| c.body.as_deref()));
    let summary =
        summary_html.map(news::plain_text).filter(|s| !s.is_empty()).map(|s| news::shorten(&s, SUMMARY_CHARS));
    let mut categories: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for c in &e.categories {
        if c.scheme.as_deref() == Some("article-type") {
            continue;
        }
        let name = news::plain_text(c.label.as_deref().filter(|l| !l.is_empty()).unwrap_or(&c.term));
        if !name.is_empty() && seen.insert(name.to_lowercase()) {
            categories.push(name);
        }
    }
    Ok(News {
        title,
        url: news::canonical_url(&url),
        source: source.to_owned(),
        published_at: Ts(published.timestamp_millis()),
        summary,
        categories,
    })
}

/// A video the feed marks as one: its link under `/video/` or `/videos/` (Decrypt
/// mixes its videos into the news feed), or a video enclosure or media item.
fn is_video(e: &Entry, url: &str) -> bool {
    let path = url.split_once("://").map_or(url, |(_, rest)| rest.split_once('/').map_or("", |(_, p)| p));
    let first = path.split('/').next().unwrap_or_default();
    first.eq_ignore_ascii_case("video")
        || first.eq_ignore_ascii_case("videos")
        || e.media.iter().any(|m| m.content.iter().any(|c| c.content_type.as_ref().is_some_and(|t| t.ty() == "video")))
}

/// The article's link: the `alternate` link, else the first, else an id that is a URL
/// (RSS `guid isPermaLink`).
fn link(e: &Entry) -> Option<String> {
    let web = |h: &str| h.starts_with("http://") || h.starts_with("https://");
    e.links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate") && web(&l.href))
        .or_else(|| e.links.iter().find(|l| web(&l.href)))
        .map(|l| l.href.clone())
        .or_else(|| web(&e.id).then(|| e.id.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::op::Operation;
    use crate::normalize::params::OpRequest;
    use crate::normalize::schema::Payload;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/news/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// CoinDesk's Arc feed of 2023-03-13: 50 items, links with utm parameters, items
    /// not in date order, `article-type` categories.
    #[test]
    fn coindesk_arc_rss() {
        let items = news_items(&fixture("coindesk_2023-03-13.xml"), Some("CoinDesk"), None, 100).expect("feed").items;
        assert_eq!(items.len(), 50);
        let first = &items[0];
        assert_eq!(
            first.title,
            "Bitcoin, U.S. Stock Futures Erase Early Gains as First Republic Bank Tanks 50% in Pre-Market Trading"
        );
        assert_eq!(
            first.url,
            "https://www.coindesk.com/markets/2023/03/13/bitcoin-us-stock-futures-erase-early-gains-as-first-republic-bank-tanks-50-in-pre-market-trading/"
        );
        assert_eq!(first.published_at, Ts(1_678_702_430_000), "Mon, 13 Mar 2023 10:13:50 +0000");
        assert_eq!(first.source, "CoinDesk");
        assert_eq!(first.categories, ["Markets", "Bitcoin", "stock futures"]);
        assert!(first.summary.as_deref().is_some_and(|s| s.starts_with("Risk assets pared gains")));
        assert!(items.windows(2).all(|w| w[0].published_at >= w[1].published_at), "newest first");
        assert!(items.iter().all(|n| !n.url.contains("utm_")));
    }

    /// Cointelegraph 2019: a wrong Atom namespace, HTML in descriptions, GMT dates.
    #[test]
    fn cointelegraph_rss_with_html_descriptions() {
        let items = news_items(&fixture("cointelegraph_2019-01-31.xml"), None, None, 100).expect("feed").items;
        assert_eq!(items.len(), 30);
        assert!(items.iter().any(|n| n.title == "CEO of Telecoms Giant Swisscom’s Blockchain Unit Steps Down"));
        assert!(items.iter().all(|n| n.summary.as_deref().is_none_or(|s| !s.contains('<'))), "no HTML left");
        assert!(!items[0].source.is_empty());
    }

    /// ETHNews 2019: titles wrapped in `<h1>` inside CDATA, `GMT` zones.
    #[test]
    fn html_in_titles_is_stripped() {
        let items = news_items(&fixture("ethnews_2019-01-31.xml"), Some("ETHNews"), None, 100).expect("feed").items;
        assert_eq!(items.len(), 19);
        assert!(items.iter().all(|n| !n.title.contains('<') && !n.title.is_empty()));
    }

    /// The 2025 captures of the shipped outlets: Decrypt (empty categories, videos
    /// after articles), The Block (`-0500` dates, utm links), Cointelegraph (a CDATA
    /// link with a raw `&`).
    #[test]
    fn the_shipped_outlets_as_captured_in_2025() {
        let all = news_items(&fixture("decrypt_2025-12-12.xml"), Some("Decrypt"), None, 100).expect("decrypt");
        let decrypt = all.items;
        assert_eq!(decrypt.len(), 38, "58 entries, 20 of them videos");
        assert_eq!(all.dropped.len(), 20);
        assert!(all.dropped.iter().all(|d| d.ends_with(VIDEO)), "{:?}", all.dropped);
        assert!(decrypt.iter().all(|n| !n.url.contains("/videos/")));
        assert_eq!(
            decrypt[0].title,
            "Vanguard Exec Calls Bitcoin a 'Digital Labubu', Even as Firm Offers Crypto ETF Trading"
        );
        assert_eq!(decrypt[0].published_at, Ts(1_765_576_772_000));
        assert!(decrypt.iter().all(|n| n.categories.iter().all(|c| !c.is_empty())), "empty categories dropped");
        let block =
            news_items(&fixture("theblock_2025-12-13.xml"), Some("The Block"), None, 100).expect("the block").items;
        assert_eq!(block.len(), 19);
        assert_eq!(
            block[0].url,
            "https://www.theblock.co/post/382435/fogo-solana-svm-airdrop-token-sale-mainnet-launch"
        );
        assert_eq!(block[0].published_at, Ts(1_765_578_791_000), "17:33:11 -0500 is 22:33:11 UTC");
        let ct =
            news_items(&fixture("cointelegraph_2025-12-12.xml"), Some("Cointelegraph"), None, 100).expect("ct").items;
        assert_eq!(ct.len(), 30);
        assert_eq!(ct[0].url, "https://cointelegraph.com/news/figure-technology-solana-onchain-equity-second-ipo");
        let cd = news_items(&fixture("coindesk_2025-12-13.xml"), Some("CoinDesk"), None, 100).expect("coindesk").items;
        assert_eq!(cd.len(), 25);
        assert_eq!(cd[0].title, "Citadel Securities and DeFi Waging War of Words Through SEC Correspondence");
    }

    /// A real Atom feed (Reddit; not crypto, the only real Atom capture found).
    #[test]
    fn atom_entries() {
        let items = news_items(&fixture("reddit_atom_2023-07-23.xml"), None, None, 100).expect("feed").items;
        assert_eq!(items.len(), 25);
        assert_eq!(items[0].source, "newest submissions : homelab");
        assert!(items.iter().all(|n| n.url.starts_with("https://")));
        assert!(items.iter().all(|n| n.categories == ["r/homelab"]));
    }

    #[test]
    fn search_and_limit() {
        let body = fixture("coindesk_2023-03-13.xml");
        let all = news_items(&body, Some("CoinDesk"), None, 100).expect("feed").items;
        let hits = news_items(&body, Some("CoinDesk"), Some("bitcoin"), 100).expect("feed").items;
        assert!(!hits.is_empty() && hits.len() < all.len());
        assert!(hits.iter().all(|n| news::matches(n, "bitcoin")));
        assert_eq!(news_items(&body, Some("CoinDesk"), None, 5).expect("feed").items.len(), 5);
    }

    /// The RSS 2.0 specification's own sample: four items of 2003 with valid RFC 822
    /// dates, kept with their dates as parsed (they used to fail the whole feed as
    /// "seconds?"). One has no title (only a description): left out and named.
    #[test]
    fn the_rss2_specification_sample_keeps_its_2003_items() {
        let feed = news_items(&fixture("rss2_spec_sample_2003.xml"), None, None, 100).expect("feed");
        assert!(!feed.items.is_empty(), "{:?}", feed.dropped);
        assert_eq!(feed.items.len() + feed.dropped.len(), 4, "every entry kept or named: {:?}", feed.dropped);
        assert!(feed.items.iter().all(|n| (1_041_379_200_000..1_072_915_200_000).contains(&n.published_at.0)), "2003");
        let json = serde_json::to_string(&feed.items).expect("json");
        let (path, defaults) = (Default::default(), Default::default());
        let req = OpRequest::parse(Operation::News, Some("limit=10"), &path, &defaults, 32).expect("request");
        let (payload, dropped) = Payload::checked(&json, &req, crate::calendar::now_ms()).expect("fits");
        assert!(dropped.is_empty(), "{dropped:?}");
        assert!(matches!(payload, Payload::News(n) if n.len() == feed.items.len()));
    }

    /// NBC New York's item dated `Sat, Dec 16 2023 02:02:33 PM` (no zone, month first)
    /// and Il Messaggero's Italian `mer, 16 nov 2022`: whatever feed-rs reads is kept; an
    /// entry whose date cannot be read is left out and named, never failing the feed.
    #[test]
    fn odd_dates_are_read_or_left_out_one_by_one() {
        for name in ["nbcnewyork_bad_item_pubdate_2023-12-17.xml", "ilmessaggero_italian_pubdate_2022-11-16.xml"] {
            match news_items(&fixture(name), None, None, 100) {
                Ok(feed) => assert_eq!(feed.items.len() + feed.dropped.len(), 1, "{name}: {:?}", feed.dropped),
                Err(FeedError::NoUsableEntries(1)) => {}
                Err(e) => panic!("{name}: {e}"),
            }
        }
    }

    /// A feed of 2,000 entries is read up to [`MAX_ITEMS`]; the rest is said to be unread.
    #[test]
    fn a_huge_feed_is_read_up_to_the_cap() {
        let body = String::from_utf8(fixture("coindesk_2023-03-13.xml")).expect("utf8");
        let (start, end) = (body.find("<item>").expect("item"), body.rfind("</item>").expect("item") + 7);
        let items = &body[start..end];
        let huge = format!("{}{}{}", &body[..start], items.repeat(40), &body[end..]);
        let feed = news_items(huge.as_bytes(), Some("CoinDesk"), None, 1000).expect("feed");
        assert_eq!(feed.items.len(), 50, "the same 50 articles, deduplicated");
        assert_eq!(feed.dropped.last().map(String::as_str), Some("entries after the first 500: not read"));
        let (cut, was_cut) = first_entries(huge.as_bytes(), MAX_ITEMS);
        assert!(was_cut && cut.len() < huge.len() / 3);
        assert!(feed_rs::parser::parse(&*cut).is_ok_and(|f| f.entries.len() == MAX_ITEMS));
    }

    #[test]
    fn broken_feeds_are_errors() {
        let body = fixture("coindesk_2023-03-13.xml");
        let cut = &body[..body.len() / 3];
        assert!(matches!(news_items(cut, None, None, 10), Err(FeedError::Parse(_))), "a truncated feed");
        assert!(matches!(news_items(b"{\"results\":[]}", None, None, 10), Err(FeedError::Parse(_))), "JSON");
        assert!(news_items(b"<html><body>Just a moment...</body></html>", None, None, 10).is_err(), "an HTML page");
    }
}
