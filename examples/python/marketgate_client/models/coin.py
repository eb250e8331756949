from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.coin_ids import CoinIds


T = TypeVar("T", bound="Coin")


@_attrs_define
class Coin:
    """
    Attributes:
        ambiguous (bool): Another coin has the same ticker
        id (str): What the other routes take for this coin: its ticker when marketgate knows it ([assets]), else
            provider:id (coingecko:acchain)
        ids (CoinIds): The coin's id at each provider
        name (str):
        rank (int | None):
        symbol (str): Upper-case ticker (some coins have none)
    """

    ambiguous: bool
    id: str
    ids: CoinIds
    name: str
    rank: int | None
    symbol: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        ambiguous = self.ambiguous

        id = self.id

        ids = self.ids.to_dict()

        name = self.name

        rank: int | None
        rank = self.rank

        symbol = self.symbol

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "ambiguous": ambiguous,
                "id": id,
                "ids": ids,
                "name": name,
                "rank": rank,
                "symbol": symbol,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.coin_ids import CoinIds

        d = dict(src_dict)
        ambiguous = d.pop("ambiguous")

        id = d.pop("id")

        ids = CoinIds.from_dict(d.pop("ids"))

        name = d.pop("name")

        def _parse_rank(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        rank = _parse_rank(d.pop("rank"))

        symbol = d.pop("symbol")

        coin = cls(
            ambiguous=ambiguous,
            id=id,
            ids=ids,
            name=name,
            rank=rank,
            symbol=symbol,
        )

        coin.additional_properties = d
        return coin

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
