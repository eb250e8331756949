from enum import StrEnum


class StreamBookType(StrEnum):
    SNAPSHOT = "snapshot"
    UPDATE = "update"

    def __str__(self) -> str:
        return str(self.value)
