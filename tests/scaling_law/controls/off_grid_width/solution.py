"""Broken: asks for a run of width 10, which is not on the grid."""


def next_step(history, budget):
    return {"run": [10, 100]}
