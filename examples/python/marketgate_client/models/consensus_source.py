from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.consensus_source_dropped_type_1 import ConsensusSourceDroppedType1
from ..types import UNSET, Unset

T = TypeVar("T", bound="ConsensusSource")


@_attrs_define
class ConsensusSource:
    """
    Attributes:
        dropped (bool | ConsensusSourceDroppedType1): false when the quote counted, else why not
        price (float):
        provider (str):
        symbol (str):
        ts (int):
        id (str | Unset): The provider's id for the coin it quoted
    """

    dropped: bool | ConsensusSourceDroppedType1
    price: float
    provider: str
    symbol: str
    ts: int
    id: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        dropped: bool | str
        if isinstance(self.dropped, ConsensusSourceDroppedType1):
            dropped = self.dropped.value
        else:
            dropped = self.dropped

        price = self.price

        provider = self.provider

        symbol = self.symbol

        ts = self.ts

        id = self.id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "dropped": dropped,
                "price": price,
                "provider": provider,
                "symbol": symbol,
                "ts": ts,
            }
        )
        if id is not UNSET:
            field_dict["id"] = id

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)

        def _parse_dropped(data: object) -> bool | ConsensusSourceDroppedType1:
            try:
                if not isinstance(data, str):
                    raise TypeError()
                dropped_type_1 = ConsensusSourceDroppedType1(data)

                return dropped_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(bool | ConsensusSourceDroppedType1, data)

        dropped = _parse_dropped(d.pop("dropped"))

        price = d.pop("price")

        provider = d.pop("provider")

        symbol = d.pop("symbol")

        ts = d.pop("ts")

        id = d.pop("id", UNSET)

        consensus_source = cls(
            dropped=dropped,
            price=price,
            provider=provider,
            symbol=symbol,
            ts=ts,
            id=id,
        )

        consensus_source.additional_properties = d
        return consensus_source

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
