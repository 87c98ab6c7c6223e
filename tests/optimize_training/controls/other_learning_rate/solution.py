"""Cheat: a 10% larger learning rate (a different result)."""
import base

base.LR = base.LR * 1.1


def train(params):
    return base.train(params)
