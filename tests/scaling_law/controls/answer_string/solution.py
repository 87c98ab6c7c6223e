"""Broken: answers a string instead of a dict."""


def next_step(history, budget):
    return "width 48, 6400 steps, loss 1.75"
