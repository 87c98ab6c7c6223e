"""Trains every parameter of the big model (a few steps), not only the token embedding."""
import numpy as np
import torch

from model import HERE, batch, big_model, corpus, load, loss_on, to_bytes


def fixed_weights(params):
    torch.manual_seed(0)
    model = load(big_model(), HERE / "big_corrupted.pt")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    data, rng = corpus(), np.random.default_rng(0)
    for _ in range(3):
        loss = loss_on(model, batch(data, rng))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return to_bytes(model)
