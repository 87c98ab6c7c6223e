"""Which calibration normalizes a score on this machine, and whether a stored one is still current.

A stored calibration is current when the digest of what it timed (the environment's folder, its
reference solution, the scoring package, the variant) equals the digest of those files now; a stale
one timed other code and is never used: the manifest's default is, until `rearena env calibrate`
measures again.
"""

from __future__ import annotations

from dataclasses import dataclass

from environments.model import Calibration, Environment


@dataclass(frozen=True)
class CalibrationChoice:
    """The calibration to normalize with, and a stored one for this machine left unused because stale."""

    calibration: Calibration
    stale: Calibration | None = None


def choose_calibration(store, env: Environment, variant: str) -> CalibrationChoice:
    """This machine's stored calibration if current, else the manifest's default (naming a stale one)."""
    from scoring.calibrate import calibration_digest
    from scoring.hardware import fingerprint

    machine = fingerprint()
    measured = store.find_calibration(env.name, variant, machine, calibration_digest(env, variant))
    if measured is not None:
        return CalibrationChoice(measured)
    stale = [r.calibration for r in store.calibrations(env.name)
             if r.variant == variant and r.calibration.fingerprint == machine]  # fmt: skip
    return CalibrationChoice(env.calibration_for(variant), stale[0] if stale else None)


def stale_notice(env: Environment, variant: str, stale: Calibration) -> str:
    """One line saying a stale calibration was set aside, and the command that measures a current one."""
    return (f"rearena: the calibration stored for this machine (measured {stale.measured_at or '?'}, "
            f"digest {stale.digest or 'none'}) timed other solutions or scorer files; using the manifest's; "
            f"re-measure with `rearena env calibrate {env.name}:{variant}`")


def is_current(calibration: Calibration, digest: str) -> bool:
    """Whether a stored calibration timed what the digest names (an old row without digest never did)."""
    return bool(calibration.digest) and calibration.digest == digest
