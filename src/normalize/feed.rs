//! An RSS or Atom feed (parsed by feed-rs) as `news` items: the headline and summary as
//! plain text, the article's canonical link, the publication time, the feed's
//! categories (not Arc's `article-type` markers), the outlet as `source`.

use feed_rs::model::{Entry, Feed};

use super::news::{self, SUMMARY_CHARS};
use super::schema::{News, Ts};

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

/// The news items of a feed body. `source` names the outlet (default: the feed's
/// title); `q` keeps items whose title or summary has every word; newest first, at
/// most `limit`.
pub fn news_items(body: &[u8], source: Option<&str>, q: Option<&str>, limit: usize) -> Result<Vec<News>, FeedError> {
    let feed = feed_rs::parser::parse(body).map_err(|e| FeedError::Parse(e.to_string()))?;
    let source = source.map(str::to_owned).unwrap_or_else(|| feed_title(&feed));
    let total = feed.entries.len();
    let items: Vec<News> = feed.entries.iter().filter_map(|e| item(e, &source)).collect();
    if items.is_empty() && total > 0 {
        return Err(FeedError::NoUsableEntries(total));
    }
    Ok(news::merge(vec![items], q, limit))
}

fn feed_title(feed: &Feed) -> String {
    feed.title.as_ref().map(|t| news::plain_text(&t.content)).filter(|t| !t.is_empty()).unwrap_or_else(|| "feed".into())
}

fn item(e: &Entry, source: &str) -> Option<News> {
    let title = news::plain_text(&e.title.as_ref()?.content);
    let url = link(e)?;
    let published = e.published.or(e.updated)?;
    if title.is_empty() {
        return None;
    }
    let summary_html =
        e.summary.as_ref().map(|t| t.content.as_str()).or_else(|| e.content.as_ref().and_then(|c| c.body.as_deref()));
    let summary =
        summary_html.map(news::plain_text).filter(|s| !s.is_empty()).map(|s| news::shorten(&s, SUMMARY_CHARS));
    let mut categories: Vec<String> = Vec::new();
    for c in &e.categories {
        if c.scheme.as_deref() == Some("article-type") {
            continue;
        }
        let name = news::plain_text(c.label.as_deref().filter(|l| !l.is_empty()).unwrap_or(&c.term));
        if !name.is_empty() && !categories.iter().any(|x| x.eq_ignore_ascii_case(&name)) {
            categories.push(name);
        }
    }
    Some(News {
        title,
        url: news::canonical_url(&url),
        source: source.to_owned(),
        published_at: Ts(published.timestamp_millis()),
        summary,
        categories,
    })
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

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/news/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// CoinDesk's Arc feed of 2023-03-13: 50 items, links with utm parameters, items
    /// not in date order, `article-type` categories.
    #[test]
    fn coindesk_arc_rss() {
        let items = news_items(&fixture("coindesk_2023-03-13.xml"), Some("CoinDesk"), None, 100).expect("feed");
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
        let items = news_items(&fixture("cointelegraph_2019-01-31.xml"), None, None, 100).expect("feed");
        assert_eq!(items.len(), 30);
        assert!(items.iter().any(|n| n.title == "CEO of Telecoms Giant Swisscom’s Blockchain Unit Steps Down"));
        assert!(items.iter().all(|n| n.summary.as_deref().is_none_or(|s| !s.contains('<'))), "no HTML left");
        assert!(!items[0].source.is_empty());
    }

    /// ETHNews 2019: titles wrapped in `<h1>` inside CDATA, `GMT` zones.
    #[test]
    fn html_in_titles_is_stripped() {
        let items = news_items(&fixture("ethnews_2019-01-31.xml"), Some("ETHNews"), None, 100).expect("feed");
        assert_eq!(items.len(), 19);
        assert!(items.iter().all(|n| !n.title.contains('<') && !n.title.is_empty()));
    }

    /// The 2025 captures of the shipped outlets: Decrypt (empty categories, videos
    /// after articles), The Block (`-0500` dates, utm links), Cointelegraph (a CDATA
    /// link with a raw `&`).
    #[test]
    fn the_shipped_outlets_as_captured_in_2025() {
        let decrypt = news_items(&fixture("decrypt_2025-12-12.xml"), Some("Decrypt"), None, 100).expect("decrypt");
        assert_eq!(decrypt.len(), 58);
        assert_eq!(
            decrypt[0].title,
            "Vanguard Exec Calls Bitcoin a 'Digital Labubu', Even as Firm Offers Crypto ETF Trading"
        );
        assert_eq!(decrypt[0].published_at, Ts(1_765_576_772_000));
        assert!(decrypt.iter().all(|n| n.categories.iter().all(|c| !c.is_empty())), "empty categories dropped");
        let block = news_items(&fixture("theblock_2025-12-13.xml"), Some("The Block"), None, 100).expect("the block");
        assert_eq!(block.len(), 19);
        assert_eq!(
            block[0].url,
            "https://www.theblock.co/post/382435/fogo-solana-svm-airdrop-token-sale-mainnet-launch"
        );
        assert_eq!(block[0].published_at, Ts(1_765_578_791_000), "17:33:11 -0500 is 22:33:11 UTC");
        let ct = news_items(&fixture("cointelegraph_2025-12-12.xml"), Some("Cointelegraph"), None, 100).expect("ct");
        assert_eq!(ct.len(), 30);
        assert_eq!(ct[0].url, "https://cointelegraph.com/news/figure-technology-solana-onchain-equity-second-ipo");
        let cd = news_items(&fixture("coindesk_2025-12-13.xml"), Some("CoinDesk"), None, 100).expect("coindesk");
        assert_eq!(cd.len(), 25);
        assert_eq!(cd[0].title, "Citadel Securities and DeFi Waging War of Words Through SEC Correspondence");
    }

    /// A real Atom feed (Reddit; not crypto, the only real Atom capture found).
    #[test]
    fn atom_entries() {
        let items = news_items(&fixture("reddit_atom_2023-07-23.xml"), None, None, 100).expect("feed");
        assert_eq!(items.len(), 25);
        assert_eq!(items[0].source, "newest submissions : homelab");
        assert!(items.iter().all(|n| n.url.starts_with("https://")));
        assert!(items.iter().all(|n| n.categories == ["r/homelab"]));
    }

    #[test]
    fn search_and_limit() {
        let body = fixture("coindesk_2023-03-13.xml");
        let all = news_items(&body, Some("CoinDesk"), None, 100).expect("feed");
        let hits = news_items(&body, Some("CoinDesk"), Some("bitcoin"), 100).expect("feed");
        assert!(!hits.is_empty() && hits.len() < all.len());
        assert!(hits.iter().all(|n| news::matches(n, "bitcoin")));
        assert_eq!(news_items(&body, Some("CoinDesk"), None, 5).expect("feed").len(), 5);
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
