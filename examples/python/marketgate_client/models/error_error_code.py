from enum import StrEnum


class ErrorErrorCode(StrEnum):
    ALL_PROVIDERS_FAILED = "all_providers_failed"
    APP_UNAVAILABLE = "app_unavailable"
    BAD_REQUEST = "bad_request"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    INTERNAL = "internal"
    LOOP_DETECTED = "loop_detected"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NO_PROVIDER_AVAILABLE = "no_provider_available"
    NO_ROUTE = "no_route"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    REQUEST_TIMEOUT = "request_timeout"
    TOO_MANY_REQUESTS = "too_many_requests"
    UNKNOWN_PROVIDER = "unknown_provider"
    UNKNOWN_SYMBOL = "unknown_symbol"
    UPSTREAM_BODY_TOO_LARGE = "upstream_body_too_large"
    URI_TOO_LONG = "uri_too_long"

    def __str__(self) -> str:
        return str(self.value)
