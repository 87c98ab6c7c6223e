"""Your solution: return the big model's weights with its token embedding fixed.

The starting version returns big_corrupted.pt unchanged (normalized score 0). Only
`tok_emb.weight` may differ from big_corrupted.pt; see instructions.md.
"""

from model import HERE, big_model, load, to_bytes


def fixed_weights(params: dict) -> bytes:
    """The bytes of torch.save(state_dict) of the big model (see model.to_bytes)."""
    model = load(big_model(), HERE / "big_corrupted.pt")
    return to_bytes(model)
