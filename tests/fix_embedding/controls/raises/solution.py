"""Raises an exception instead of answering."""


def fixed_weights(params):
    raise RuntimeError("the embedding could not be fixed")
