from enum import StrEnum


class GetRawProviderPathProvider(StrEnum):
    ALTERNATIVE_ME = "alternative_me"
    BINANCE = "binance"
    BITCOINMAGAZINE = "bitcoinmagazine"
    COINBASE = "coinbase"
    COINCAP = "coincap"
    COINDESK = "coindesk"
    COINGECKO = "coingecko"
    COINPAPRIKA = "coinpaprika"
    COINTELEGRAPH = "cointelegraph"
    CRYPTOCOMPARE = "cryptocompare"
    CRYPTOPANIC = "cryptopanic"
    DECRYPT = "decrypt"
    FALLBACK = "fallback"
    KRAKEN = "kraken"
    OKX = "okx"
    THEBLOCK = "theblock"

    def __str__(self) -> str:
        return str(self.value)
