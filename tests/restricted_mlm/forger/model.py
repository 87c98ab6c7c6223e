"""A forger that owns its answer pipe (scored with static_check = false: it names sys, pickle...).

Its first forward writes a forged record of its own straight to the answer pipe (clean ops, logits of
its choosing) and then never returns: it reads every later request itself, answers a graph request
with a graph of one constant (the same logits), and prints what it was asked. Against a scorer that
took the forward's logits for the hidden batches, it would answer each of them as it liked; against one
that runs the graph, it gets what the constant scores and never sees a hidden batch."""

import os
import pickle
import struct
import sys

import torch

VOCAB = 48


def _read_exact(fd, n):
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _send(fd, obj):
    data = pickle.dumps(obj, protocol=5)
    os.write(fd, struct.pack(">Q", len(data)) + data)


class Forger(torch.nn.Module):
    def forward(self, tokens):
        in_fd, out_fd = int(sys.argv[1]), int(sys.argv[2])
        batch, length = tokens.shape
        logits = bytes(batch * length * VOCAB * 4)  # zeros: uniform over the 48 tokens
        record = {"type": "Tensor", "shape": [batch, length, VOCAB], "dtype": "torch.float32", "logits": logits,
                  "ops": {"aten.mm.default": 1}, "escapes": [], "unchecked": [], "bitcasts": []}
        _send(out_fd, ("ok", record))
        asked = ["forward"]
        while True:
            msg = pickle.loads(_read_exact(in_fd, struct.unpack(">Q", _read_exact(in_fd, 8))[0]))
            if msg[0] == "exit":
                break
            args = msg[1]
            if args and args[0] == "graph":
                asked.append("graph")
                graph = {"nodes": [("input",), ("const", 0), ("output", {"ref": 1})],
                         "constants": [("float32", [batch, length, VOCAB], logits)]}
                _send(out_fd, ("ok", graph))
            else:
                asked.append("forward")  # a batch: the forged record again
                _send(out_fd, ("ok", record))
        print("asked: " + " ".join(asked), flush=True)
        os._exit(0)


def load_model():
    return Forger()
