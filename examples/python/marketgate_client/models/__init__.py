"""Contains all the data models used in inputs/outputs"""

from .attempt import Attempt
from .attempt_outcome import AttemptOutcome
from .candle import Candle
from .coin import Coin
from .coin_ids import CoinIds
from .consensus_source import ConsensusSource
from .consensus_source_dropped_type_1 import ConsensusSourceDroppedType1
from .error import Error
from .error_error import ErrorError
from .error_error_code import ErrorErrorCode
from .exchange import Exchange
from .get_raw_provider_path_provider import GetRawProviderPathProvider
from .get_v1_coins_response_200 import GetV1CoinsResponse200
from .get_v1_exchanges_response_200 import GetV1ExchangesResponse200
from .get_v1_indicators_interval import GetV1IndicatorsInterval
from .get_v1_indicators_response_200 import GetV1IndicatorsResponse200
from .get_v1_markets_response_200 import GetV1MarketsResponse200
from .get_v1_movers_response_200 import GetV1MoversResponse200
from .get_v1_news_response_200 import GetV1NewsResponse200
from .get_v1_ohlcv_interval import GetV1OhlcvInterval
from .get_v1_ohlcv_response_200 import GetV1OhlcvResponse200
from .get_v1_orderbook_response_200 import GetV1OrderbookResponse200
from .get_v1_price_response_200 import GetV1PriceResponse200
from .get_v1_search_response_200 import GetV1SearchResponse200
from .get_v1_sentiment_response_200 import GetV1SentimentResponse200
from .get_v1_stream_interval import GetV1StreamInterval
from .get_v1_ticker_response_200 import GetV1TickerResponse200
from .indicator_row import IndicatorRow
from .market import Market
from .meta import Meta
from .meta_aliases import MetaAliases
from .meta_consensus import MetaConsensus
from .meta_dropped import MetaDropped
from .meta_served import MetaServed
from .meta_spread_pct import MetaSpreadPct
from .meta_stale_data import MetaStaleData
from .movers import Movers
from .news import News
from .order_book import OrderBook
from .post_raw_provider_path_provider import PostRawProviderPathProvider
from .price import Price
from .sentiment import Sentiment
from .stream_book import StreamBook
from .stream_book_type import StreamBookType
from .stream_candle import StreamCandle
from .stream_candle_interval import StreamCandleInterval
from .stream_status import StreamStatus
from .stream_status_event import StreamStatusEvent
from .stream_ticker import StreamTicker
from .stream_trade import StreamTrade
from .stream_trade_side import StreamTradeSide
from .ticker import Ticker

__all__ = (
    "Attempt",
    "AttemptOutcome",
    "Candle",
    "Coin",
    "CoinIds",
    "ConsensusSource",
    "ConsensusSourceDroppedType1",
    "Error",
    "ErrorError",
    "ErrorErrorCode",
    "Exchange",
    "GetRawProviderPathProvider",
    "GetV1CoinsResponse200",
    "GetV1ExchangesResponse200",
    "GetV1IndicatorsInterval",
    "GetV1IndicatorsResponse200",
    "GetV1MarketsResponse200",
    "GetV1MoversResponse200",
    "GetV1NewsResponse200",
    "GetV1OhlcvInterval",
    "GetV1OhlcvResponse200",
    "GetV1OrderbookResponse200",
    "GetV1PriceResponse200",
    "GetV1SearchResponse200",
    "GetV1SentimentResponse200",
    "GetV1StreamInterval",
    "GetV1TickerResponse200",
    "IndicatorRow",
    "Market",
    "Meta",
    "MetaAliases",
    "MetaConsensus",
    "MetaDropped",
    "MetaServed",
    "MetaSpreadPct",
    "MetaStaleData",
    "Movers",
    "News",
    "OrderBook",
    "PostRawProviderPathProvider",
    "Price",
    "Sentiment",
    "StreamBook",
    "StreamBookType",
    "StreamCandle",
    "StreamCandleInterval",
    "StreamStatus",
    "StreamStatusEvent",
    "StreamTicker",
    "StreamTrade",
    "StreamTradeSide",
    "Ticker",
)
