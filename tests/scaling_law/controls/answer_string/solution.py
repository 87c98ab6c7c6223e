"""Broken: answers a string instead of a dict."""


def next_step(history, budget):
    return "width 8, 800 steps, loss 2.5"
