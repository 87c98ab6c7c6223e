"""How to treat a failed call to an OpenAI-compatible API: its kind, and whether to retry it; and how to
read a reply's token counts, which an endpoint may send malformed.

Shared by the agent loop (console.agents) and the rubric judge (scoring.rubric), which both
talk to models through the `openai` client.
"""

from __future__ import annotations

RETRY_STATUSES = (408, 409, 429)


def token_count(usage, name: str) -> int | None:
    """A reply's usage field `name` as a whole number of tokens (a float that is one, too); None where it
    is missing, or is no such number (a string, a bool, a negative count)."""
    value = getattr(usage, name, None)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def classify(exc: Exception) -> tuple[str, bool]:
    """(kind, retryable) of an API failure: timeouts, dropped connections, 429 and 5xx are retried."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return "timeout", True
    if isinstance(exc, openai.APIConnectionError):
        return "connection", True
    status = getattr(exc, "status_code", None)
    if status == 429:
        return "rate_limit", True
    if isinstance(status, int) and (status >= 500 or status in RETRY_STATUSES):
        return "server", True
    return (f"http_{status}" if status else type(exc).__name__), False
