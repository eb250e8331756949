from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="MetaStaleData")


@_attrs_define
class MetaStaleData:
    """Candles whose newest bar opened more than 3 intervals ago (also on indicators)

    Attributes:
        age_ms (int):
        newest (int):
        note (str):
    """

    age_ms: int
    newest: int
    note: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        age_ms = self.age_ms

        newest = self.newest

        note = self.note

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "age_ms": age_ms,
                "newest": newest,
                "note": note,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        age_ms = d.pop("age_ms")

        newest = d.pop("newest")

        note = d.pop("note")

        meta_stale_data = cls(
            age_ms=age_ms,
            newest=newest,
            note=note,
        )

        meta_stale_data.additional_properties = d
        return meta_stale_data

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
