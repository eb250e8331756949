from enum import StrEnum


class AttemptOutcome(StrEnum):
    BAD_BODY = "bad_body"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"
    CONNECT_ERROR = "connect_error"
    DISABLED = "disabled"
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    OK = "ok"
    OVER_QUOTA = "over_quota"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"
    UNSUPPORTED = "unsupported"

    def __str__(self) -> str:
        return str(self.value)
