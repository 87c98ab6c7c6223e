"""AgentConfig: the model, its endpoint, the limits, the price table and the loop's knobs."""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
from dataclasses import dataclass, field
from typing import Any

DEFAULT_SYSTEM_PROMPT = """You are an expert research engineer working alone on a task in a sandbox.
Your working directory holds the starting files; the task's instructions follow.
Act only through the tools: shell (bash, no login profile), python (runs a snippet), read_file,
write_file (paths inside the working directory), score (scores the working directory now) and
submit (scores one last time and ends your attempt). Your result is the best valid score you
reach, so score often, keep what works and improve step by step. Before each turn you are told
how much active time is left; submit before it runs out."""


DEFAULT_KEY_VARIABLE = "OPENAI_API_KEY"
NO_KEY = "none"  # the key sent to a server on this machine when DEFAULT_KEY_VARIABLE is not set


def is_local_url(url: str | None) -> bool:
    """Whether an endpoint's host is this machine (localhost or a loopback address)."""
    from urllib.parse import urlsplit

    try:
        host = urlsplit(url or "").hostname or ""
        return host == "localhost" or host.endswith(".localhost") or ipaddress.ip_address(host).is_loopback
    except ValueError:  # not an address (a name other than localhost), or an unreadable URL
        return False


class AgentConfigError(ValueError):
    """An agent configuration that cannot run (missing API key, bad limit, ...)."""


@dataclass
class AgentConfig:
    """Everything an agent trial needs besides the environment: model, endpoint, limits and prices."""

    model: str
    base_url: str | None = None  # None: the openai client's default (api.openai.com)
    api_key_env: str = DEFAULT_KEY_VARIABLE  # the variable holding the key; the key itself is never stored
    api_key: str | None = field(default=None, repr=False)  # given directly (wins over api_key_env); secret
    participant: str = ""  # the participant's name; default: the model name
    budget_s: float | None = None  # active-time budget; None: the environment's
    max_steps: int | None = None  # model calls
    max_tokens: int | None = None  # prompt + completion tokens over the whole trial
    max_cost_usd: float | None = None
    prices: dict[str, tuple[float, float]] = field(default_factory=dict)  # model -> ($/1M input, $/1M output)
    temperature: float | None = None
    max_completion_tokens: int | None = None  # per response
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    sandbox: str = "local"
    request_timeout_s: float = 600.0  # one HTTP request
    request_mode: str = "post"  # "post": client.post("/chat/completions"); "create": client.chat.completions.create
    max_retries: int = 8  # retries of one request on 429, 5xx, timeouts and connection errors
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    max_context_truncations: int = 6  # context-overflow retries of one request
    shell_timeout_s: float = 600.0  # default (and maximum) timeout of a shell or python call
    output_cap: int = 16_000  # bytes of tool output the model sees; the middle of longer outputs is elided
    max_refusals: int = 3  # consecutive turns without a tool call before the trial ends

    def __post_init__(self) -> None:
        if not self.model:
            raise AgentConfigError("an agent needs a model name")
        for name in ("budget_s", "max_steps", "max_tokens", "max_cost_usd"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise AgentConfigError(f"{name} must be positive, got {value}")
        for name in ("request_timeout_s", "shell_timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value)
                                                                                      and value > 0):
                flag = " (--request-timeout)" if name == "request_timeout_s" else ""
                raise AgentConfigError(f"{name}{flag} must be a positive number of seconds, got {value!r}")
        if self.max_completion_tokens is not None and self.max_completion_tokens < 1:
            raise AgentConfigError(f"max_completion_tokens must be at least 1, got {self.max_completion_tokens}")
        if self.max_refusals < 1 or self.output_cap < 200:
            raise AgentConfigError("max_refusals >= 1 and output_cap >= 200 are required")
        if self.request_mode not in ("post", "create"):
            raise AgentConfigError(f"request_mode must be 'post' or 'create', not {self.request_mode!r}")
        self.prices = {str(k): (float(v[0]), float(v[1])) for k, v in (self.prices or {}).items()}

    @property
    def name(self) -> str:
        """The participant's name."""
        return self.participant or self.model

    def resolve_api_key(self) -> str:
        """The API key: api_key, else $api_key_env, else NO_KEY for a server on this machine (--base-url on
        localhost, 127.x or ::1) while the variable is the default one; AgentConfigError names the missing variable."""
        if self.api_key:
            return self.api_key
        value = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        # a local server (vLLM, llama.cpp, ...) usually asks no key, but the openai client needs one; a variable
        # named on purpose (--api-key-env) and unset is a mistake to report
        if not value and is_local_url(self.base_url) and self.api_key_env == DEFAULT_KEY_VARIABLE:
            return NO_KEY
        if not value:
            variable = self.api_key_env or DEFAULT_KEY_VARIABLE
            raise AgentConfigError(
                f"no API key: set the environment variable {self.api_key_env or '(none given)'} "
                f"(or choose another with --api-key-env); for a server that needs no key, any text: {variable}=none"
            )
        return value

    def price(self) -> tuple[float, float] | None:
        """($/1M input tokens, $/1M output tokens) of the model, or None when the table lacks it."""
        return self.prices.get(self.model)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Dollars for this many tokens (0 for a model without a price)."""
        price = self.price()
        if price is None:
            return 0.0
        return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6

    def settings(self) -> dict[str, Any]:
        """The configuration as stored with the trial: everything but secrets."""
        data = dataclasses.asdict(self)
        data.pop("api_key", None)
        data["prices"] = {k: list(v) for k, v in self.prices.items()}
        return data

    def request_params(self, tokens_left: int | None = None) -> dict[str, Any]:
        """Sampling parameters sent with each request (only those set); `tokens_left` (under a token limit) caps
        the reply's length, so that one reply cannot run far past the limit."""
        params: dict[str, Any] = {}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        caps = [n for n in (self.max_completion_tokens, tokens_left) if n is not None]
        if caps:
            params["max_completion_tokens"] = max(1, min(caps))
        return params


def parse_price(text: str) -> tuple[float, float]:
    """'IN,OUT' dollars per 1M input and output tokens, e.g. '2.5,10'."""
    parts = [p.strip() for p in text.replace("/", ",").split(",")]
    try:
        if len(parts) != 2:
            raise ValueError
        price = (float(parts[0]), float(parts[1]))
    except ValueError:
        raise AgentConfigError(f"cannot read price {text!r}; give IN,OUT dollars per 1M tokens, e.g. 2.5,10") from None
    if min(price) < 0:
        raise AgentConfigError(f"prices cannot be negative: {text!r}")
    return price
