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

from ..models.stream_book_type import StreamBookType

T = TypeVar("T", bound="StreamBook")


@_attrs_define
class StreamBook:
    """A `snapshot` (the top `depth` levels a side) replaces the client's book; an `update` sets the levels that changed in
    that top (amount 0 removes a level). After a `resync` status a new snapshot follows.

        Attributes:
            asks (list[list[float]]): [price, amount], best (lowest) first
            bids (list[list[float]]): [price, amount], best (highest) first
            channel (Literal['book']):
            provider (str):
            seq (int): The provider's last update id applied
            symbol (str):
            ts (int): When it was sent, ms
            type_ (StreamBookType):
            vs (str):
    """

    asks: list[list[float]]
    bids: list[list[float]]
    channel: Literal["book"]
    provider: str
    seq: int
    symbol: str
    ts: int
    type_: StreamBookType
    vs: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        asks = []
        for asks_item_data in self.asks:
            asks_item = asks_item_data

            asks.append(asks_item)

        bids = []
        for bids_item_data in self.bids:
            bids_item = bids_item_data

            bids.append(bids_item)

        channel = self.channel

        provider = self.provider

        seq = self.seq

        symbol = self.symbol

        ts = self.ts

        type_ = self.type_.value

        vs = self.vs

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "asks": asks,
                "bids": bids,
                "channel": channel,
                "provider": provider,
                "seq": seq,
                "symbol": symbol,
                "ts": ts,
                "type": type_,
                "vs": vs,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        asks = []
        _asks = d.pop("asks")
        for asks_item_data in _asks:
            asks_item = cast(list[float], asks_item_data)

            asks.append(asks_item)

        bids = []
        _bids = d.pop("bids")
        for bids_item_data in _bids:
            bids_item = cast(list[float], bids_item_data)

            bids.append(bids_item)

        channel = cast(Literal["book"], d.pop("channel"))
        if channel != "book":
            raise ValueError(f"channel must match const 'book', got '{channel}'")

        provider = d.pop("provider")

        seq = d.pop("seq")

        symbol = d.pop("symbol")

        ts = d.pop("ts")

        type_ = StreamBookType(d.pop("type"))

        vs = d.pop("vs")

        stream_book = cls(
            asks=asks,
            bids=bids,
            channel=channel,
            provider=provider,
            seq=seq,
            symbol=symbol,
            ts=ts,
            type_=type_,
            vs=vs,
        )

        stream_book.additional_properties = d
        return stream_book

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
