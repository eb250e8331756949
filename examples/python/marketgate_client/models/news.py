from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="News")


@_attrs_define
class News:
    """
    Attributes:
        categories (list[str]):
        published_at (int): Unix time, milliseconds
        source (str):
        summary (None | str):
        title (str):
        url (str):
    """

    categories: list[str]
    published_at: int
    source: str
    summary: None | str
    title: str
    url: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        categories = self.categories

        published_at = self.published_at

        source = self.source

        summary: None | str
        summary = self.summary

        title = self.title

        url = self.url

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "categories": categories,
                "published_at": published_at,
                "source": source,
                "summary": summary,
                "title": title,
                "url": url,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        categories = cast(list[str], d.pop("categories"))

        published_at = d.pop("published_at")

        source = d.pop("source")

        def _parse_summary(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        summary = _parse_summary(d.pop("summary"))

        title = d.pop("title")

        url = d.pop("url")

        news = cls(
            categories=categories,
            published_at=published_at,
            source=source,
            summary=summary,
            title=title,
            url=url,
        )

        news.additional_properties = d
        return news

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
