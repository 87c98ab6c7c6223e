"""Broken: returns bytes that are not a saved state dict."""


def train(params):
    return b"these are not weights" * 100
