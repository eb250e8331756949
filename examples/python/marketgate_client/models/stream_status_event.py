from enum import StrEnum


class StreamStatusEvent(StrEnum):
    CLOSING = "closing"
    FALLBACK = "fallback"
    GAP = "gap"
    RESUMED = "resumed"
    RESYNC = "resync"
    SILENT = "silent"
    SUBSCRIBED = "subscribed"

    def __str__(self) -> str:
        return str(self.value)
