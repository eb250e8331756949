//! Merge and search over recorded coin lists (tests/fixtures/SOURCES.md).

use std::collections::BTreeMap;

use super::*;

const GECKO_2019: &str = include_str!("../../../tests/fixtures/coingecko/coins_list.json");
const GECKO_2025: &str = include_str!("../../../tests/fixtures/coingecko/coins_list_2025-03-31.json");
const PAPRIKA: &str = include_str!("../../../tests/fixtures/coinpaprika/coins_list_top10.json");

/// A provider's list as its mapping gives it: ticker, name, rank and its id.
fn listed(body: &str, provider: &str) -> Vec<Coin> {
    let rows: Vec<serde_json::Value> = serde_json::from_str(body).expect("recorded list");
    rows.iter()
        .map(|r| Coin {
            id: String::new(),
            symbol: r["symbol"].as_str().unwrap_or_default().to_uppercase(),
            name: r["name"].as_str().unwrap_or_default().to_owned(),
            rank: r["rank"].as_u64().map(|n| n as u32),
            ids: BTreeMap::from([(provider.to_owned(), r["id"].as_str().unwrap_or_default().to_owned())]),
            ambiguous: false,
        })
        .collect()
}

fn btc() -> Known {
    Known {
        ticker: "BTC".into(),
        name: Some("Bitcoin".into()),
        ids: BTreeMap::from([("coingecko".into(), "bitcoin".into()), ("coinpaprika".into(), "btc-bitcoin".into())]),
    }
}

#[test]
fn one_coin_carries_every_provider_id_and_the_best_rank() {
    let merged = merge(vec![listed(GECKO_2025, "coingecko"), listed(PAPRIKA, "coinpaprika")], &[btc()]);
    let bitcoin: Vec<&Coin> =
        merged.iter().filter(|c| c.ids.get("coingecko").is_some_and(|i| i == "bitcoin")).collect();
    assert_eq!(bitcoin.len(), 1, "one Bitcoin");
    assert_eq!(bitcoin[0].id, "BTC");
    assert_eq!(bitcoin[0].ids["coinpaprika"], "btc-bitcoin");
    assert_eq!(bitcoin[0].rank, Some(1));
    assert_eq!(merged[0].id, "BTC", "ranked first");
    // Ethereum is not in [assets] here: joined by ticker and name.
    let eth = merged.iter().find(|c| c.ids.get("coinpaprika").is_some_and(|i| i == "eth-ethereum")).expect("eth");
    assert_eq!(eth.ids.get("coingecko").map(String::as_str), Some("ethereum"));
    assert_eq!(eth.id, "coingecko:ethereum");
    // CoinGecko's whole list, less the entries Paprika joined: nothing lost.
    assert_eq!(merged.iter().filter(|c| c.ids.contains_key("coingecko")).count(), 17_142);
}

#[test]
fn coins_sharing_a_ticker_are_ambiguous_and_named_by_provider_id() {
    let merged = merge(vec![listed(GECKO_2019, "coingecko")], &[]);
    let acc: Vec<&Coin> = merged.iter().filter(|c| c.symbol == "ACC").collect();
    let ids: Vec<&str> = acc.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&"coingecko:accelerator-network") && ids.contains(&"coingecko:acchain"), "{ids:?}");
    assert!(acc.iter().all(|c| c.ambiguous));
    let zrx = merged.iter().find(|c| c.symbol == "ZRX").expect("0x");
    assert!(!zrx.ambiguous);
}

#[test]
fn a_merged_list_merges_to_itself() {
    let once = merge(vec![listed(GECKO_2019, "coingecko"), listed(PAPRIKA, "coinpaprika")], &[btc()]);
    let twice = merge(vec![once.clone()], &[btc()]);
    assert_eq!(once, twice);
}

#[test]
fn search_puts_the_ranked_coin_first_among_equal_matches() {
    // Three meme coins have the ticker "bitcoin" in CoinGecko's 2025 list.
    let merged = merge(vec![listed(GECKO_2025, "coingecko"), listed(PAPRIKA, "coinpaprika")], &[btc()]);
    let found = search(&merged, "Bitcoin", 10);
    assert_eq!(found[0].id, "BTC", "{:?}", found.iter().map(|c| &c.name).collect::<Vec<_>>());
    assert!(found.iter().skip(1).any(|c| c.symbol == "BITCOIN"));
    assert_eq!(found.len(), 10);
    // Without any rank, the [assets] coin still leads.
    let unranked = merge(vec![listed(GECKO_2025, "coingecko")], &[btc()]);
    assert_eq!(search(&unranked, "bitcoin", 3)[0].id, "BTC");
}

#[test]
fn search_finds_by_ticker_name_or_id_prefix_before_contained() {
    let merged = merge(vec![listed(GECKO_2019, "coingecko")], &[]);
    let zrx = search(&merged, "zrx", 5);
    assert_eq!(zrx[0].name, "0x");
    let acc = search(&merged, "acc", 10);
    assert!(acc.len() >= 2);
    assert!(acc[..2].iter().all(|c| c.symbol == "ACC"), "exact tickers first: {acc:?}");
    let by_id = search(&merged, "acchain", 5);
    assert_eq!(by_id[0].id, "coingecko:acchain");
    assert!(search(&merged, "no such coin anywhere", 5).is_empty());
}

#[test]
fn pages_follow_the_merged_order() {
    let merged = merge(vec![listed(PAPRIKA, "coinpaprika")], &[]);
    let ranks: Vec<Option<u32>> = page(&merged, 2, 3).iter().map(|c| c.rank).collect();
    assert_eq!(ranks, vec![Some(3), Some(4), Some(5)]);
    assert!(page(&merged, 50, 3).is_empty());
}
