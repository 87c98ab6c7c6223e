"""Kills its own process in the middle of the call."""
import os


def fixed_weights(params):
    os._exit(3)
