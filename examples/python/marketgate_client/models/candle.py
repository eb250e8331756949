from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="Candle")


@_attrs_define
class Candle:
    """
    Attributes:
        close (float):
        high (float):
        low (float):
        open_ (float):
        ts (int): Unix time, milliseconds
        volume (float | None):
    """

    close: float
    high: float
    low: float
    open_: float
    ts: int
    volume: float | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        close = self.close

        high = self.high

        low = self.low

        open_ = self.open_

        ts = self.ts

        volume: float | None
        volume = self.volume

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "close": close,
                "high": high,
                "low": low,
                "open": open_,
                "ts": ts,
                "volume": volume,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        close = d.pop("close")

        high = d.pop("high")

        low = d.pop("low")

        open_ = d.pop("open")

        ts = d.pop("ts")

        def _parse_volume(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        volume = _parse_volume(d.pop("volume"))

        candle = cls(
            close=close,
            high=high,
            low=low,
            open_=open_,
            ts=ts,
            volume=volume,
        )

        candle.additional_properties = d
        return candle

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
