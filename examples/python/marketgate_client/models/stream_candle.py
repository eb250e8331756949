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

from ..models.stream_candle_interval import StreamCandleInterval

T = TypeVar("T", bound="StreamCandle")


@_attrs_define
class StreamCandle:
    """
    Attributes:
        channel (Literal['candle']):
        close (float):
        closed (bool): The interval is over: the candle's last update
        high (float):
        interval (StreamCandleInterval):
        low (float):
        open_ (float):
        provider (str):
        symbol (str):
        ts (int): Open time, ms
        updated (int): When the provider sent the update, ms
        volume (float | None):
        vs (str):
    """

    channel: Literal["candle"]
    close: float
    closed: bool
    high: float
    interval: StreamCandleInterval
    low: float
    open_: float
    provider: str
    symbol: str
    ts: int
    updated: int
    volume: float | None
    vs: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        channel = self.channel

        close = self.close

        closed = self.closed

        high = self.high

        interval = self.interval.value

        low = self.low

        open_ = self.open_

        provider = self.provider

        symbol = self.symbol

        ts = self.ts

        updated = self.updated

        volume: float | None
        volume = self.volume

        vs = self.vs

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "channel": channel,
                "close": close,
                "closed": closed,
                "high": high,
                "interval": interval,
                "low": low,
                "open": open_,
                "provider": provider,
                "symbol": symbol,
                "ts": ts,
                "updated": updated,
                "volume": volume,
                "vs": vs,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        channel = cast(Literal["candle"], d.pop("channel"))
        if channel != "candle":
            raise ValueError(f"channel must match const 'candle', got '{channel}'")

        close = d.pop("close")

        closed = d.pop("closed")

        high = d.pop("high")

        interval = StreamCandleInterval(d.pop("interval"))

        low = d.pop("low")

        open_ = d.pop("open")

        provider = d.pop("provider")

        symbol = d.pop("symbol")

        ts = d.pop("ts")

        updated = d.pop("updated")

        def _parse_volume(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        volume = _parse_volume(d.pop("volume"))

        vs = d.pop("vs")

        stream_candle = cls(
            channel=channel,
            close=close,
            closed=closed,
            high=high,
            interval=interval,
            low=low,
            open_=open_,
            provider=provider,
            symbol=symbol,
            ts=ts,
            updated=updated,
            volume=volume,
            vs=vs,
        )

        stream_candle.additional_properties = d
        return stream_candle

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
