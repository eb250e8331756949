from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="Market")


@_attrs_define
class Market:
    """
    Attributes:
        change_24h_pct (float | None):
        market_cap (float | None):
        name (str):
        price (float):
        rank (int | None):
        symbol (str):
        volume_24h (float | None):
    """

    change_24h_pct: float | None
    market_cap: float | None
    name: str
    price: float
    rank: int | None
    symbol: str
    volume_24h: float | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        change_24h_pct: float | None
        change_24h_pct = self.change_24h_pct

        market_cap: float | None
        market_cap = self.market_cap

        name = self.name

        price = self.price

        rank: int | None
        rank = self.rank

        symbol = self.symbol

        volume_24h: float | None
        volume_24h = self.volume_24h

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "change_24h_pct": change_24h_pct,
                "market_cap": market_cap,
                "name": name,
                "price": price,
                "rank": rank,
                "symbol": symbol,
                "volume_24h": volume_24h,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)

        def _parse_change_24h_pct(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        change_24h_pct = _parse_change_24h_pct(d.pop("change_24h_pct"))

        def _parse_market_cap(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        market_cap = _parse_market_cap(d.pop("market_cap"))

        name = d.pop("name")

        price = d.pop("price")

        def _parse_rank(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        rank = _parse_rank(d.pop("rank"))

        symbol = d.pop("symbol")

        def _parse_volume_24h(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        volume_24h = _parse_volume_24h(d.pop("volume_24h"))

        market = cls(
            change_24h_pct=change_24h_pct,
            market_cap=market_cap,
            name=name,
            price=price,
            rank=rank,
            symbol=symbol,
            volume_24h=volume_24h,
        )

        market.additional_properties = d
        return market

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
