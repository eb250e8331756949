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

from ..models.stream_trade_side import StreamTradeSide

T = TypeVar("T", bound="StreamTrade")


@_attrs_define
class StreamTrade:
    """
    Attributes:
        amount (float):
        channel (Literal['trade']):
        id (str): The provider's trade id
        price (float):
        provider (str):
        side (StreamTradeSide): The taker's side
        symbol (str):
        ts (int): Trade time, ms
        vs (str):
    """

    amount: float
    channel: Literal["trade"]
    id: str
    price: float
    provider: str
    side: StreamTradeSide
    symbol: str
    ts: int
    vs: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        amount = self.amount

        channel = self.channel

        id = self.id

        price = self.price

        provider = self.provider

        side = self.side.value

        symbol = self.symbol

        ts = self.ts

        vs = self.vs

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "amount": amount,
                "channel": channel,
                "id": id,
                "price": price,
                "provider": provider,
                "side": side,
                "symbol": symbol,
                "ts": ts,
                "vs": vs,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        amount = d.pop("amount")

        channel = cast(Literal["trade"], d.pop("channel"))
        if channel != "trade":
            raise ValueError(f"channel must match const 'trade', got '{channel}'")

        id = d.pop("id")

        price = d.pop("price")

        provider = d.pop("provider")

        side = StreamTradeSide(d.pop("side"))

        symbol = d.pop("symbol")

        ts = d.pop("ts")

        vs = d.pop("vs")

        stream_trade = cls(
            amount=amount,
            channel=channel,
            id=id,
            price=price,
            provider=provider,
            side=side,
            symbol=symbol,
            ts=ts,
            vs=vs,
        )

        stream_trade.additional_properties = d
        return stream_trade

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
