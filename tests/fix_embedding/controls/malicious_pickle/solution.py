"""Weights whose pickle would run a shell command when loaded unsafely (it must never run)."""
import io
import os

import torch

from model import HERE

MARKER = "/tmp/fix_embedding_payload_ran"


class Payload:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def fixed_weights(params):
    state = torch.load(HERE / "big_corrupted.pt", weights_only=True)
    state["payload"] = Payload()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()
