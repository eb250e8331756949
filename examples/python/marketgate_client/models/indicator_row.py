from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="IndicatorRow")


@_attrs_define
class IndicatorRow:
    """The candle's close and one field per indicator asked (sma_20, ema_20, rsi_14, macd, macd_signal, macd_hist,
    bb_upper, bb_middle, bb_lower, atr_14, vwap, ...); null while a window is not full.

        Attributes:
            close (float):
            ts (int): Unix time, milliseconds
    """

    close: float
    ts: int
    additional_properties: dict[str, float | None] = _attrs_field(
        init=False, factory=dict
    )

    def to_dict(self) -> dict[str, Any]:
        close = self.close

        ts = self.ts

        field_dict: dict[str, Any] = {}
        for prop_name, prop in self.additional_properties.items():
            field_dict[prop_name] = prop

        field_dict.update(
            {
                "close": close,
                "ts": ts,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        close = d.pop("close")

        ts = d.pop("ts")

        indicator_row = cls(
            close=close,
            ts=ts,
        )

        additional_properties = {}
        for prop_name, prop_dict in d.items():

            def _parse_additional_property(data: object) -> float | None:
                if data is None:
                    return data
                return cast(float | None, data)

            additional_property = _parse_additional_property(prop_dict)

            additional_properties[prop_name] = additional_property

        indicator_row.additional_properties = additional_properties
        return indicator_row

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> float | None:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: float | None) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
