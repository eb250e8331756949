//! Which upstream stream carries a pair's channel on a provider: the pair's id (its
//! former ticker resolved through `[aliases]`, the stream's own id format where it
//! has one) on the channel's name template. Used for a client's join and for the
//! streams a failing provider hands to the next one in turn.

use crate::config::model::Config;
use crate::config::model::ProviderConfig;
use crate::config::model::stream::{Channel, StreamConfig};
use crate::normalize::op::Interval;

use super::driver::Topic;

/// Why a pair has no stream on a provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoStream {
    /// The provider has no id for the pair.
    #[error("unknown symbol: {symbol} ({provider} has no stream id for {asset}/{vs})")]
    Unknown {
        /// As asked.
        symbol: String,
        /// After `[aliases]`.
        asset: String,
        /// Quote.
        vs: String,
        /// Provider.
        provider: String,
    },
    /// The provider's stream has no such channel.
    #[error("channels: {provider} streams offer no {channel} channel")]
    NoChannel {
        /// Provider.
        provider: String,
        /// Channel.
        channel: Channel,
    },
}

/// The topic of `symbol`/`vs` on `channel` of `provider`'s stream `cfg`.
pub fn topic(
    config: &Config,
    provider: &ProviderConfig,
    cfg: &StreamConfig,
    symbol: &str,
    vs: &str,
    channel: Channel,
    interval: Interval,
) -> Result<Topic, NoStream> {
    // A former ticker (TON) streams its asset's pair (GRAMUSDT), labelled as asked.
    let asset = config.aliases.get(symbol).map_or(symbol, String::as_str);
    let Some(rest_id) = provider.symbols.id_for(asset, vs) else {
        return Err(NoStream::Unknown {
            symbol: symbol.to_owned(),
            asset: asset.to_owned(),
            vs: vs.to_owned(),
            provider: provider.name.clone(),
        });
    };
    let id = cfg.id(rest_id, asset, provider.symbols.quote_for(vs));
    let Some(ch) = cfg.channels.get(&channel) else {
        return Err(NoStream::NoChannel { provider: provider.name.clone(), channel });
    };
    let interval = (channel == Channel::Candles).then(|| interval.as_str());
    let stream = cfg.protocol.stream_name(&ch.name, &id, interval);
    Ok(Topic { stream, symbol: symbol.to_owned(), vs: vs.to_owned(), id, channel, depth: 0 })
}
