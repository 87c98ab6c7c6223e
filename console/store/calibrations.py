"""Saved calibrations: one per (environment, variant, machine fingerprint), found only under the digest of
what it timed; a new measurement replaces a stale one, and of two with the same digest the later measured wins."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, select

from console.store.errors import StoreError
from console.store.records import CALIBRATION_FIELDS as _FIELDS, CalibrationRecord
from console.store.tables import CalibrationRow

C = CalibrationRow.__table__


def _when(stamp: str) -> datetime | None:
    """An ISO timestamp as an aware datetime (naive ones taken as UTC); None if unreadable."""
    try:
        moment = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def later(kept: str, new: str) -> bool:
    """Whether the kept measurement is strictly later than the new one (unknown: it is not)."""
    a, b = _when(kept), _when(new)
    return a is not None and b is not None and a > b


def as_calibration(value: Any) -> Any:
    """An environments.model.Calibration from a Calibration or a dict of its fields."""
    from environments.model import Calibration

    if isinstance(value, Calibration):
        return value
    if isinstance(value, dict):
        try:
            return Calibration(**{k: value[k] for k in _FIELDS if k in value})
        except TypeError as exc:
            raise StoreError(f"not a calibration: {value!r} ({exc})") from None
    raise StoreError(f"not a calibration: {value!r}")


def _from_row(row: Any) -> CalibrationRecord:
    """A CalibrationRecord from a calibrations row."""
    from environments.model import Calibration

    m = row._mapping
    cal = Calibration(**{k: m[k] for k in _FIELDS})
    return CalibrationRecord(
        environment=m["environment"], variant=m["variant"], calibration=cal, saved_at=m["saved_at"]
    )


def save(conn: Connection, environment: str, variant: str, calibration: Any, now: float) -> CalibrationRecord:
    """Insert or replace the calibration unless a later measurement of the same digest is already kept."""
    cal = as_calibration(calibration)
    key = (C.c.environment == environment) & (C.c.variant == variant) & (C.c.fingerprint == cal.fingerprint)
    row = conn.execute(select(C).where(key)).first()
    if row is not None and row.digest == cal.digest and later(row.measured_at, cal.measured_at):
        return _from_row(row)
    values = {k: getattr(cal, k) for k in _FIELDS}
    values["start"], values["reference"] = float(cal.start), float(cal.reference)
    if row is None:
        conn.execute(C.insert().values(environment=environment, variant=variant, saved_at=now, **values))
    else:
        conn.execute(C.update().where(key).values(saved_at=now, **values))
    return CalibrationRecord(environment=environment, variant=variant, calibration=cal, saved_at=now)


def find(conn: Connection, environment: str, variant: str, fingerprint: str, digest: str) -> Any:
    """The kept Calibration for a machine fingerprint if it timed what the digest names, else None."""
    key = (C.c.environment == environment) & (C.c.variant == variant) & (C.c.fingerprint == fingerprint)
    row = conn.execute(select(C).where(key & (C.c.digest == digest))).first()
    return None if row is None else _from_row(row).calibration


def listing(conn: Connection, environment: str | None) -> list[CalibrationRecord]:
    """Kept calibrations (of one environment), by environment, variant, newest saved first."""
    query = select(C).order_by(C.c.environment, C.c.variant, C.c.saved_at.desc())
    if environment is not None:
        query = query.where(C.c.environment == environment)
    return [_from_row(r) for r in conn.execute(query)]
