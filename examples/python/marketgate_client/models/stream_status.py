from __future__ import annotations

from collections.abc import Mapping
from typing import (
    Any,
    Literal,
    Self,
    TypeVar,
    cast,
)

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.stream_status_event import StreamStatusEvent

T = TypeVar("T", bound="StreamStatus")


@_attrs_define
class StreamStatus:
    """
    Attributes:
        channel (Literal['status']):
        detail (str):
        event (StreamStatusEvent):
        ts (int):
    """

    channel: Literal["status"]
    detail: str
    event: StreamStatusEvent
    ts: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        channel = self.channel

        detail = self.detail

        event = self.event.value

        ts = self.ts

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "channel": channel,
                "detail": detail,
                "event": event,
                "ts": ts,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        channel = cast(Literal["status"], d.pop("channel"))
        if channel != "status":
            raise ValueError(f"channel must match const 'status', got '{channel}'")

        detail = d.pop("detail")

        event = StreamStatusEvent(d.pop("event"))

        ts = d.pop("ts")

        stream_status = cls(
            channel=channel,
            detail=detail,
            event=event,
            ts=ts,
        )

        stream_status.additional_properties = d
        return stream_status

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
