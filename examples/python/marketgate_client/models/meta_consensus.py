from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="MetaConsensus")


@_attrs_define
class MetaConsensus:
    """
    Attributes:
        agree (bool):
        answered (int):
        asked (int):
        rule (str):
        note (str | Unset):
    """

    agree: bool
    answered: int
    asked: int
    rule: str
    note: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        agree = self.agree

        answered = self.answered

        asked = self.asked

        rule = self.rule

        note = self.note

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "agree": agree,
                "answered": answered,
                "asked": asked,
                "rule": rule,
            }
        )
        if note is not UNSET:
            field_dict["note"] = note

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        agree = d.pop("agree")

        answered = d.pop("answered")

        asked = d.pop("asked")

        rule = d.pop("rule")

        note = d.pop("note", UNSET)

        meta_consensus = cls(
            agree=agree,
            answered=answered,
            asked=asked,
            rule=rule,
            note=note,
        )

        meta_consensus.additional_properties = d
        return meta_consensus

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
