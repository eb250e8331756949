from enum import StrEnum


class StreamStatusEvent(StrEnum):
    FALLBACK = "fallback"
    GAP = "gap"
    RESUMED = "resumed"
    SUBSCRIBED = "subscribed"

    def __str__(self) -> str:
        return str(self.value)
