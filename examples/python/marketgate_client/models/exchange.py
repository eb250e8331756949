from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="Exchange")


@_attrs_define
class Exchange:
    """
    Attributes:
        country (None | str):
        id (str):
        name (str):
        url (None | str):
        volume_24h_btc (float | None):
    """

    country: None | str
    id: str
    name: str
    url: None | str
    volume_24h_btc: float | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        country: None | str
        country = self.country

        id = self.id

        name = self.name

        url: None | str
        url = self.url

        volume_24h_btc: float | None
        volume_24h_btc = self.volume_24h_btc

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "country": country,
                "id": id,
                "name": name,
                "url": url,
                "volume_24h_btc": volume_24h_btc,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)

        def _parse_country(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        country = _parse_country(d.pop("country"))

        id = d.pop("id")

        name = d.pop("name")

        def _parse_url(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        url = _parse_url(d.pop("url"))

        def _parse_volume_24h_btc(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        volume_24h_btc = _parse_volume_24h_btc(d.pop("volume_24h_btc"))

        exchange = cls(
            country=country,
            id=id,
            name=name,
            url=url,
            volume_24h_btc=volume_24h_btc,
        )

        exchange.additional_properties = d
        return exchange

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
