from __future__ import annotations

from collections.abc import Mapping
from typing import (
    Any,
    Literal,
    Self,
    TypeVar,
    cast,
)

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="StreamTicker")


@_attrs_define
class StreamTicker:
    """
    Attributes:
        change_pct (float | None):
        high (float | None):
        last (float):
        low (float | None):
        open_ (float | None):
        quote_volume (float | None):
        symbol (str):
        ts (int): Unix time, milliseconds
        volume (float | None):
        vs (str):
        channel (Literal['ticker']):
        provider (str):
    """

    change_pct: float | None
    high: float | None
    last: float
    low: float | None
    open_: float | None
    quote_volume: float | None
    symbol: str
    ts: int
    volume: float | None
    vs: str
    channel: Literal["ticker"]
    provider: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        change_pct: float | None
        change_pct = self.change_pct

        high: float | None
        high = self.high

        last = self.last

        low: float | None
        low = self.low

        open_: float | None
        open_ = self.open_

        quote_volume: float | None
        quote_volume = self.quote_volume

        symbol = self.symbol

        ts = self.ts

        volume: float | None
        volume = self.volume

        vs = self.vs

        channel = self.channel

        provider = self.provider

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "change_pct": change_pct,
                "high": high,
                "last": last,
                "low": low,
                "open": open_,
                "quote_volume": quote_volume,
                "symbol": symbol,
                "ts": ts,
                "volume": volume,
                "vs": vs,
                "channel": channel,
                "provider": provider,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)

        def _parse_change_pct(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        change_pct = _parse_change_pct(d.pop("change_pct"))

        def _parse_high(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        high = _parse_high(d.pop("high"))

        last = d.pop("last")

        def _parse_low(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        low = _parse_low(d.pop("low"))

        def _parse_open_(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        open_ = _parse_open_(d.pop("open"))

        def _parse_quote_volume(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        quote_volume = _parse_quote_volume(d.pop("quote_volume"))

        symbol = d.pop("symbol")

        ts = d.pop("ts")

        def _parse_volume(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        volume = _parse_volume(d.pop("volume"))

        vs = d.pop("vs")

        channel = cast(Literal["ticker"], d.pop("channel"))
        if channel != "ticker":
            raise ValueError(f"channel must match const 'ticker', got '{channel}'")

        provider = d.pop("provider")

        stream_ticker = cls(
            change_pct=change_pct,
            high=high,
            last=last,
            low=low,
            open_=open_,
            quote_volume=quote_volume,
            symbol=symbol,
            ts=ts,
            volume=volume,
            vs=vs,
            channel=channel,
            provider=provider,
        )

        stream_ticker.additional_properties = d
        return stream_ticker

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
