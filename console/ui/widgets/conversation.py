"""An agent trial's conversation as it happens: model messages, tool calls and their outputs."""

from __future__ import annotations

from textual.widgets import RichLog

from console.compare.describe import describe
from console.render import plain
from console.trials.clock import format_duration

SHOWN_KINDS = {"model_response", "tool_call", "tool_output", "api_error", "agent_note", "note", "score",
               "paused", "resumed", "ended", "started"}
BODY_CHARS = 1500


class Conversation(RichLog):
    """Appends events as they arrive; long bodies are cut (the store keeps them whole)."""

    DEFAULT_CSS = "Conversation { height: 1fr; }"

    def __init__(self, **kwargs):
        super().__init__(wrap=True, markup=False, highlight=False, max_lines=5000, **kwargs)
        self.shown = 0

    def add_events(self, events) -> None:
        """Write the events worth reading to the log."""
        for event in events:
            if event.kind not in SHOWN_KINDS:
                continue
            title, body = describe(event)
            self.write(plain(f"[{format_duration(event.active_s)}] {title}", style="bold cyan"))
            if body:
                cut = body if len(body) <= BODY_CHARS else body[:BODY_CHARS] + f" … ({len(body) - BODY_CHARS} more)"
                self.write(plain(cut))  # the model's and the tools' text: no terminal escapes get through
            self.shown += 1
