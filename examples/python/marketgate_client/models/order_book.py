from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="OrderBook")


@_attrs_define
class OrderBook:
    """
    Attributes:
        asks (list[list[float]]):
        bids (list[list[float]]):
        symbol (str):
        ts (int): Unix time, milliseconds
        vs (str):
    """

    asks: list[list[float]]
    bids: list[list[float]]
    symbol: str
    ts: int
    vs: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        asks = []
        for asks_item_data in self.asks:
            asks_item = []
            for asks_item_item_data in asks_item_data:
                asks_item_item: float
                asks_item_item = asks_item_item_data
                asks_item.append(asks_item_item)

            asks.append(asks_item)

        bids = []
        for bids_item_data in self.bids:
            bids_item = []
            for bids_item_item_data in bids_item_data:
                bids_item_item: float
                bids_item_item = bids_item_item_data
                bids_item.append(bids_item_item)

            bids.append(bids_item)

        symbol = self.symbol

        ts = self.ts

        vs = self.vs

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "asks": asks,
                "bids": bids,
                "symbol": symbol,
                "ts": ts,
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
            asks_item = []
            _asks_item = asks_item_data
            for asks_item_item_data in _asks_item:

                def _parse_asks_item_item(data: object) -> float:
                    return cast(float, data)

                asks_item_item = _parse_asks_item_item(asks_item_item_data)

                asks_item.append(asks_item_item)

            asks.append(asks_item)

        bids = []
        _bids = d.pop("bids")
        for bids_item_data in _bids:
            bids_item = []
            _bids_item = bids_item_data
            for bids_item_item_data in _bids_item:

                def _parse_bids_item_item(data: object) -> float:
                    return cast(float, data)

                bids_item_item = _parse_bids_item_item(bids_item_item_data)

                bids_item.append(bids_item_item)

            bids.append(bids_item)

        symbol = d.pop("symbol")

        ts = d.pop("ts")

        vs = d.pop("vs")

        order_book = cls(
            asks=asks,
            bids=bids,
            symbol=symbol,
            ts=ts,
            vs=vs,
        )

        order_book.additional_properties = d
        return order_book

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
