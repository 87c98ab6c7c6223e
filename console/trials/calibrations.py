"""Which calibration normalizes a score on this machine, and whether a stored one is still current.

A stored calibration is current when the digest of what it timed (the environment's folder, its
reference solution, the scoring package, the variant) equals the digest of those files now; a stale
one timed other code and is never used: the manifest's default is, until `rearena env calibrate`
measures again.

A calibration belongs to a machine and a runtime (scoring.hardware.fingerprint): a docker trial, scored in a
container of the environment's image, never uses one measured on the host (`rearena env calibrate
--sandbox docker` measures one in the container). A trial's calibration is chosen once, when the trial is
made, and kept in its settings (TRIAL_KEY): a calibration measured later, by anyone, changes nothing in it.
"""

from __future__ import annotations

from dataclasses import dataclass

from environments.model import Calibration, Environment


TRIAL_KEY = "calibration"  # in a trial's settings: the calibration all its scorings use, and why


@dataclass(frozen=True)
class CalibrationChoice:
    """The calibration to normalize with, and a stored one for this machine left unused because stale."""

    calibration: Calibration
    stale: Calibration | None = None
    runtime: str = "host"  # what the scorer runs in (scoring.hardware.HOST, or a docker image)

    def origin(self) -> str:
        """Where the calibration came from, in a few words."""
        where = "this machine" + ("" if self.runtime == "host" else f" in {self.runtime}")
        if self.calibration.source == "measured":
            return f"measured on {where} (current)"
        if self.stale is not None:
            return (f"the manifest's default: the calibration stored for {where} (measured "
                    f"{self.stale.measured_at or '?'}) timed other solutions or scorer files")
        return f"the manifest's default: no calibration measured on {where}"


def runtime_of(env: Environment, sandbox: str) -> str:
    """The runtime a sandbox kind scores in: the host (local), or the environment's docker image."""
    if sandbox != "docker":
        from scoring.hardware import HOST

        return HOST
    from scoring.docker_runner import runtime

    return runtime(env)


def choose_calibration(store, env: Environment, variant: str, runtime: str = "host") -> CalibrationChoice:
    """This machine's stored calibration for the runtime if current, else the manifest's default (naming a
    stale one)."""
    from scoring.calibrate import calibration_digest
    from scoring.hardware import fingerprint

    machine = fingerprint(runtime=runtime)
    measured = store.find_calibration(env.name, variant, machine, calibration_digest(env, variant))
    if measured is not None:
        return CalibrationChoice(measured, runtime=runtime)
    stale = [r.calibration for r in store.calibrations(env.name)
             if r.variant == variant and r.calibration.fingerprint == machine]  # fmt: skip
    return CalibrationChoice(env.calibration_for(variant), stale[0] if stale else None, runtime)


def trial_calibration_line(settings: dict) -> str:
    """One line naming the calibration a trial's scorings use and where it came from."""
    fixed = (settings or {}).get(TRIAL_KEY)
    if not isinstance(fixed, dict) or "start" not in fixed:
        return "calibration: not fixed yet (its next scoring fixes it)"
    return (f"calibration: start {_number(fixed.get('start'))}, reference {_number(fixed.get('reference'))} "
            f"({fixed.get('source') or '?'}{', ' + fixed['hardware'] if fixed.get('hardware') else ''}); "
            f"{fixed.get('origin') or 'origin unknown'}; fixed {fixed.get('fixed') or '?'}")


def _number(value) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "?"


def stale_notice(env: Environment, variant: str, stale: Calibration) -> str:
    """One line saying a stale calibration was set aside, and the command that measures a current one."""
    return (f"rearena: the calibration stored for this machine (measured {stale.measured_at or '?'}, "
            f"digest {stale.digest or 'none'}) timed other solutions or scorer files; using the manifest's; "
            f"re-measure with `rearena env calibrate {env.name}:{variant}`")


def is_current(calibration: Calibration, digest: str) -> bool:
    """Whether a stored calibration timed what the digest names (an old row without digest never did)."""
    return bool(calibration.digest) and calibration.digest == digest

