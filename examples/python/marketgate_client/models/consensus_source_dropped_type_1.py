from enum import StrEnum


class ConsensusSourceDroppedType1(StrEnum):
    OUTLIER = "outlier"
    STALE = "stale"

    def __str__(self) -> str:
        return str(self.value)
