from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.market import Market


T = TypeVar("T", bound="Movers")


@_attrs_define
class Movers:
    """
    Attributes:
        gainers (list[Market]):
        losers (list[Market]):
    """

    gainers: list[Market]
    losers: list[Market]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        gainers = []
        for gainers_item_data in self.gainers:
            gainers_item = gainers_item_data.to_dict()
            gainers.append(gainers_item)

        losers = []
        for losers_item_data in self.losers:
            losers_item = losers_item_data.to_dict()
            losers.append(losers_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "gainers": gainers,
                "losers": losers,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.market import Market

        d = dict(src_dict)
        gainers = []
        _gainers = d.pop("gainers")
        for gainers_item_data in _gainers:
            gainers_item = Market.from_dict(gainers_item_data)

            gainers.append(gainers_item)

        losers = []
        _losers = d.pop("losers")
        for losers_item_data in _losers:
            losers_item = Market.from_dict(losers_item_data)

            losers.append(losers_item)

        movers = cls(
            gainers=gainers,
            losers=losers,
        )

        movers.additional_properties = d
        return movers

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
