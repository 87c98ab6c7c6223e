"""What a participant may see of a submission in an environment whose scores are hidden.

A valid submission's message usually states the measurement (a time, a loss, the chosen point)
and so the score itself: where scores are hidden, the participant sees only that it was scored.
An invalid submission's message says what was wrong, which is always shown.
"""

from __future__ import annotations

HIDDEN_MESSAGE = "scored (the score and its details are hidden in this environment)"


def participant_message(sub, visible: bool) -> str:
    """The submission's message as the participant may see it."""
    return sub.message if visible or not sub.valid else HIDDEN_MESSAGE
