from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.attempt import Attempt
    from ..models.consensus_source import ConsensusSource
    from ..models.meta_aliases import MetaAliases
    from ..models.meta_consensus import MetaConsensus
    from ..models.meta_dropped import MetaDropped
    from ..models.meta_served import MetaServed
    from ..models.meta_spread_pct import MetaSpreadPct
    from ..models.meta_stale_data import MetaStaleData


T = TypeVar("T", bound="Meta")


@_attrs_define
class Meta:
    """
    Attributes:
        age_ms (int):
        attempts (int):
        cached (bool):
        host (str):
        missing (list[str]):
        operation (str):
        provider (str): Who answered (several, comma-separated, for merged and consensus answers)
        stale (bool):
        aliases (MetaAliases | Unset):
        consensus (MetaConsensus | Unset):
        dropped (MetaDropped | Unset): News items left out because they did not fit (no link, a date in the future, a
            video), the first ten named
        note (str | Unset):
        served (MetaServed | Unset): Fewer candles or book levels than asked: how many were served, and the provider's
            documented maximum when that is why
        sources (list[ConsensusSource] | Unset):
        spread_pct (MetaSpreadPct | Unset):
        stale_data (MetaStaleData | Unset): Candles whose newest bar opened more than 3 intervals ago (also on
            indicators)
        tried (list[Attempt] | Unset):
    """

    age_ms: int
    attempts: int
    cached: bool
    host: str
    missing: list[str]
    operation: str
    provider: str
    stale: bool
    aliases: MetaAliases | Unset = UNSET
    consensus: MetaConsensus | Unset = UNSET
    dropped: MetaDropped | Unset = UNSET
    note: str | Unset = UNSET
    served: MetaServed | Unset = UNSET
    sources: list[ConsensusSource] | Unset = UNSET
    spread_pct: MetaSpreadPct | Unset = UNSET
    stale_data: MetaStaleData | Unset = UNSET
    tried: list[Attempt] | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        age_ms = self.age_ms

        attempts = self.attempts

        cached = self.cached

        host = self.host

        missing = self.missing

        operation = self.operation

        provider = self.provider

        stale = self.stale

        aliases: dict[str, Any] | Unset = UNSET
        if not isinstance(self.aliases, Unset):
            aliases = self.aliases.to_dict()

        consensus: dict[str, Any] | Unset = UNSET
        if not isinstance(self.consensus, Unset):
            consensus = self.consensus.to_dict()

        dropped: dict[str, Any] | Unset = UNSET
        if not isinstance(self.dropped, Unset):
            dropped = self.dropped.to_dict()

        note = self.note

        served: dict[str, Any] | Unset = UNSET
        if not isinstance(self.served, Unset):
            served = self.served.to_dict()

        sources: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.sources, Unset):
            sources = []
            for sources_item_data in self.sources:
                sources_item = sources_item_data.to_dict()
                sources.append(sources_item)

        spread_pct: dict[str, Any] | Unset = UNSET
        if not isinstance(self.spread_pct, Unset):
            spread_pct = self.spread_pct.to_dict()

        stale_data: dict[str, Any] | Unset = UNSET
        if not isinstance(self.stale_data, Unset):
            stale_data = self.stale_data.to_dict()

        tried: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.tried, Unset):
            tried = []
            for tried_item_data in self.tried:
                tried_item = tried_item_data.to_dict()
                tried.append(tried_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "age_ms": age_ms,
                "attempts": attempts,
                "cached": cached,
                "host": host,
                "missing": missing,
                "operation": operation,
                "provider": provider,
                "stale": stale,
            }
        )
        if aliases is not UNSET:
            field_dict["aliases"] = aliases
        if consensus is not UNSET:
            field_dict["consensus"] = consensus
        if dropped is not UNSET:
            field_dict["dropped"] = dropped
        if note is not UNSET:
            field_dict["note"] = note
        if served is not UNSET:
            field_dict["served"] = served
        if sources is not UNSET:
            field_dict["sources"] = sources
        if spread_pct is not UNSET:
            field_dict["spread_pct"] = spread_pct
        if stale_data is not UNSET:
            field_dict["stale_data"] = stale_data
        if tried is not UNSET:
            field_dict["tried"] = tried

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.attempt import Attempt
        from ..models.consensus_source import ConsensusSource
        from ..models.meta_aliases import MetaAliases
        from ..models.meta_consensus import MetaConsensus
        from ..models.meta_dropped import MetaDropped
        from ..models.meta_served import MetaServed
        from ..models.meta_spread_pct import MetaSpreadPct
        from ..models.meta_stale_data import MetaStaleData

        d = dict(src_dict)
        age_ms = d.pop("age_ms")

        attempts = d.pop("attempts")

        cached = d.pop("cached")

        host = d.pop("host")

        missing = cast(list[str], d.pop("missing"))

        operation = d.pop("operation")

        provider = d.pop("provider")

        stale = d.pop("stale")

        _aliases = d.pop("aliases", UNSET)
        aliases: MetaAliases | Unset
        if isinstance(_aliases, Unset):
            aliases = UNSET
        else:
            aliases = MetaAliases.from_dict(_aliases)

        _consensus = d.pop("consensus", UNSET)
        consensus: MetaConsensus | Unset
        if isinstance(_consensus, Unset):
            consensus = UNSET
        else:
            consensus = MetaConsensus.from_dict(_consensus)

        _dropped = d.pop("dropped", UNSET)
        dropped: MetaDropped | Unset
        if isinstance(_dropped, Unset):
            dropped = UNSET
        else:
            dropped = MetaDropped.from_dict(_dropped)

        note = d.pop("note", UNSET)

        _served = d.pop("served", UNSET)
        served: MetaServed | Unset
        if isinstance(_served, Unset):
            served = UNSET
        else:
            served = MetaServed.from_dict(_served)

        _sources = d.pop("sources", UNSET)
        sources: list[ConsensusSource] | Unset = UNSET
        if _sources is not UNSET:
            sources = []
            for sources_item_data in _sources:
                sources_item = ConsensusSource.from_dict(sources_item_data)

                sources.append(sources_item)

        _spread_pct = d.pop("spread_pct", UNSET)
        spread_pct: MetaSpreadPct | Unset
        if isinstance(_spread_pct, Unset):
            spread_pct = UNSET
        else:
            spread_pct = MetaSpreadPct.from_dict(_spread_pct)

        _stale_data = d.pop("stale_data", UNSET)
        stale_data: MetaStaleData | Unset
        if isinstance(_stale_data, Unset):
            stale_data = UNSET
        else:
            stale_data = MetaStaleData.from_dict(_stale_data)

        _tried = d.pop("tried", UNSET)
        tried: list[Attempt] | Unset = UNSET
        if _tried is not UNSET:
            tried = []
            for tried_item_data in _tried:
                tried_item = Attempt.from_dict(tried_item_data)

                tried.append(tried_item)

        meta = cls(
            age_ms=age_ms,
            attempts=attempts,
            cached=cached,
            host=host,
            missing=missing,
            operation=operation,
            provider=provider,
            stale=stale,
            aliases=aliases,
            consensus=consensus,
            dropped=dropped,
            note=note,
            served=served,
            sources=sources,
            spread_pct=spread_pct,
            stale_data=stale_data,
            tried=tried,
        )

        meta.additional_properties = d
        return meta

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
