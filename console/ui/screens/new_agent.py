"""New agent trials: environment and variant, model and endpoint, budget and number of runs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

MAX_AGENT_RUNS = 64  # agent trials one form starts at once (RearenaApp.start_agents checks it too)
API_KEY_LABEL = "Environment variable holding the API key"
REMEMBERED = ("model", "base_url", "api_key_env", "budget", "runs")  # the inputs filled in again on reopening
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # what the key field takes (a key typed there is never kept)


@dataclass(frozen=True)
class AgentRequest:
    """What to start: `runs` agent trials of one model on one environment variant."""

    spec: str
    model: str
    base_url: str | None
    api_key_env: str
    budget: str
    runs: int


class NewAgentScreen(ModalScreen[AgentRequest | None]):
    """A form for agent trials; dismisses with an AgentRequest or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, registry, environment: str | None = None):
        super().__init__()
        self.registry = registry
        self.environment = environment

    def compose(self) -> ComposeResult:
        names = sorted(self.registry.environments)
        first = self.environment if self.environment in names else (names[0] if names else Select.BLANK)
        with Vertical(classes="dialog wide"):
            yield Label("New agent trials", classes="question")
            yield Label("Environment")
            yield Select([(n, n) for n in names], value=first, id="environment", allow_blank=False)
            yield Label("Variant")
            yield Select([], id="variant")
            yield Label("Model")
            yield Input(placeholder="e.g. gpt-4.1-mini", id="model")
            yield Label("Base URL of an OpenAI-compatible endpoint (empty: the openai default)")
            yield Input(placeholder="http://127.0.0.1:8000/v1", id="base_url")
            yield Label(API_KEY_LABEL)
            yield Input("OPENAI_API_KEY", id="api_key_env")
            with Horizontal(classes="pair"):
                yield Input(placeholder="budget, e.g. 2h (default: the environment's)", id="budget")
                yield Input("1", id="runs", type="integer")
            with Horizontal(classes="buttons"):
                yield Button("Start", variant="primary", id="start")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self._fill_variants()
        for field_id, value in getattr(self.app, "agent_form", {}).items():  # what was typed last time
            self.query_one(f"#{field_id}", Input).value = value
        self.query_one("#model", Input).focus()

    @on(Select.Changed, "#environment")
    def _fill_variants(self) -> None:
        from console.ui.screens.new_trial import fill_variants

        fill_variants(self, self.registry)

    @on(Button.Pressed, "#start")
    def start(self) -> None:
        """Check the request here, where it can be corrected: a problem is told and the form stays open."""
        env = self.query_one("#environment", Select).value
        variant = self.query_one("#variant", Select).value
        model = self.query_one("#model", Input).value.strip()
        runs_text = self.query_one("#runs", Input).value.strip() or "1"
        if not isinstance(env, str) or not model:
            self.notify("Choose an environment and type the model's name.", severity="error")
            return
        if not runs_text.isdigit() or not 1 <= int(runs_text) <= MAX_AGENT_RUNS:
            self.notify(f"Runs must be a whole number from 1 to {MAX_AGENT_RUNS}.", severity="error")
            return
        spec = env if not isinstance(variant, str) else f"{env}:{variant}"
        request = AgentRequest(spec, model, self.query_one("#base_url", Input).value.strip() or None,
                               self.query_one("#api_key_env", Input).value.strip() or "OPENAI_API_KEY",
                               self.query_one("#budget", Input).value.strip(), int(runs_text))
        try:
            agent_config(request)
        except AgentFormError as exc:
            self.notify(str(exc), title="Cannot start the agent", severity="error", markup=False, timeout=20)
            if exc.field == "api_key_env" and not VARIABLE_NAME.fullmatch(request.api_key_env):
                self.query_one("#api_key_env", Input).value = ""  # perhaps a key: not shown again, not kept
            self.query_one(f"#{exc.field}", Input).focus()
            return
        self._remember()
        self.dismiss(request)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self._remember()
        self.dismiss(None)

    def _remember(self) -> None:
        """Keep what was typed for the next form (the app outlives this screen)."""
        if hasattr(self.app, "agent_form"):
            form = {field_id: self.query_one(f"#{field_id}", Input).value for field_id in REMEMBERED}
            if not VARIABLE_NAME.fullmatch(form["api_key_env"].strip() or "OPENAI_API_KEY"):
                form["api_key_env"] = ""  # not a variable's name (perhaps a key): never kept
            self.app.agent_form = form


class AgentFormError(ValueError):
    """A request the form must correct; `field` is the id of the input to correct."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def agent_config(request: AgentRequest):
    """The AgentConfig of a request; AgentFormError says, in the form's terms, what to correct."""
    from console.agents.config import AgentConfig, AgentConfigError
    from console.trials.clock import parse_duration

    try:
        budget = parse_duration(request.budget) if request.budget else None
    except ValueError as exc:
        raise AgentFormError(f"Budget: {exc}.", "budget") from None
    if not VARIABLE_NAME.fullmatch(request.api_key_env):  # never echoed: it may be the key itself
        raise AgentFormError(f"\"{API_KEY_LABEL}\" takes the name of an environment variable (letters, digits, _), "
                             "not the key itself; what was typed there is not kept. Put the key in a variable "
                             "before starting rearena and type that variable's name.", "api_key_env")
    try:
        config = AgentConfig(model=request.model, base_url=request.base_url, api_key_env=request.api_key_env,
                             budget_s=budget)
    except AgentConfigError as exc:
        field = "budget" if "budget" in str(exc) else "model"
        raise AgentFormError(str(exc), field) from None
    try:
        config.resolve_api_key()  # told before any trial is made, with what to do here rather than on the CLI
    except AgentConfigError:
        variable = request.api_key_env
        raise AgentFormError(
            f"No API key: the environment variable {variable} is not set for this console. Type the name of the "
            f"variable that holds your key under \"{API_KEY_LABEL}\", or set {variable} before starting "
            f"rearena (for a server that needs no key, any text: {variable}=none).", "api_key_env") from None
    return config
