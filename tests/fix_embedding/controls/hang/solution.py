"""Never returns."""
import time


def fixed_weights(params):
    while True:
        time.sleep(0.05)
