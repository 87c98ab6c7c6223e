"""The trial service's error: an action on a trial that cannot be done (importable from console.trials.service)."""

from __future__ import annotations


class TrialError(Exception):
    """A trial action that cannot be done (ended trial, unknown trial, bad state)."""
