from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="MetaServed")


@_attrs_define
class MetaServed:
    """Fewer candles or book levels than asked: how many were served, and the provider's documented maximum when that is
    why

        Attributes:
            asked (int):
            served (int):
            provider_max (int | Unset):
    """

    asked: int
    served: int
    provider_max: int | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        asked = self.asked

        served = self.served

        provider_max = self.provider_max

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "asked": asked,
                "served": served,
            }
        )
        if provider_max is not UNSET:
            field_dict["provider_max"] = provider_max

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        asked = d.pop("asked")

        served = d.pop("served")

        provider_max = d.pop("provider_max", UNSET)

        meta_served = cls(
            asked=asked,
            served=served,
            provider_max=provider_max,
        )

        meta_served.additional_properties = d
        return meta_served

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
