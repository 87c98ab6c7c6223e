"""A positive control: an untrained model that uses many allowed primitives in legitimate ways
(ReLU attention without softmax, einsum, masks, clamps, constants made in the forward, in-place
ReLU, a plain tensor attribute, a tied weight and a view of it, tensors in a list attribute, an
integer buffer, a file written by load_model). It must score as valid (a bad loss
is fine)."""
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F


class Zoo(nn.Module):
    def __init__(self, dim: int = 16):
        super().__init__()
        self.embed = nn.Embedding(49, dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.mix = nn.Sequential(nn.Linear(dim, 32), nn.ReLU(inplace=True), nn.Linear(32, dim))
        self.out = nn.Linear(dim, 48)
        self.register_buffer("causal", torch.ones(64, 64).tril())
        self.table = torch.linspace(0.0, 1.0, 49).cumsum(0)  # a plain tensor attribute
        self.scale = 0.125
        # tensors that share memory (re-materialized before each forward, sharing kept or not):
        self.tied = nn.Linear(dim, 49, bias=False)
        self.tied.weight = self.embed.weight                      # a tied weight
        self.embed_t = self.embed.weight.t()                      # an attribute that is a view of it
        self.consts = [torch.tensor([0.5, 0.25]), torch.arange(4)]  # tensors in a list attribute
        self.register_buffer("positions", torch.arange(64))       # an integer buffer

    def forward(self, tokens):
        b, t = tokens.shape
        h = self.embed(tokens) + self.table[tokens].unsqueeze(-1) * 0.01
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        scores = torch.einsum("btd,bsd->bts", q, k).clamp(min=0.0) * self.scale
        scores = scores * self.causal[:t, :t] + scores.masked_fill(tokens.unsqueeze(1) == 48, 0.0) * 0.5
        h = h + scores @ v
        h = h + self.mix(F.leaky_relu(h, 0.1))
        position = torch.arange(t).float().unsqueeze(-1) * torch.tensor([0.01])
        h = torch.maximum(h + position, torch.zeros_like(h)) - h.amax(dim=-1, keepdim=True) * 0.1
        h = F.pad(h, (0, 0, 1, 0))[:, :t] + h.sum(dim=1, keepdim=True) * 0.001
        logits = self.out(torch.where(h > 0, h, h * 0.5))
        logits = logits + (self.tied(h)[..., :48] + (h @ self.embed_t)[..., :48]) * self.consts[0][1]
        logits = logits + self.positions[:t].unsqueeze(-1).float() * 0.001 + self.consts[1].sum() * 0.0
        return logits.reshape(b * t, 48).view(b, t, 48).contiguous()


def load_model():
    torch.manual_seed(0)
    model = Zoo()
    Path.cwd().joinpath("zoo-loaded.txt").write_text("ok")  # load_model may write files
    return model.eval()
