"""This machine's calibrations read from a SQLite database with the standard library alone.

`rearena score` without --record needs nothing from the store but the calibration to normalize with,
and opening the store imports SQLAlchemy and SQLModel (about 0.8 s on a small machine, more than the
rest of a quick scoring). This reader answers the two questions choose_calibration asks, read-only, and
gives way to the store (returns None) wherever it could answer differently: another database than a
SQLite file, a schema of another version (the store upgrades or refuses it), any error. A database not
yet made holds no calibration (and is not made here).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from console.store.records import CALIBRATION_FIELDS, CalibrationRecord
from console.store.version import DB_FILENAME, SCHEMA_VERSION
from scoring.off_limits import sqlite_file

_COLUMNS = ("environment", "variant", "saved_at", *CALIBRATION_FIELDS)


def database_file(url: str | None, data_dir: Path) -> Path | None:
    """The SQLite file that open_store would open for these settings; None where it is not a plain file
    (another database, an in-memory one, a URL with options)."""
    if not url:
        return Path(data_dir).expanduser() / DB_FILENAME
    if "://" not in url:
        return Path(url).expanduser().absolute()
    return None if "?" in url else sqlite_file(url)  # %XX decoded, no ~ expanded: as SQLAlchemy and SQLite do


class QuickCalibrations:
    """find_calibration and calibrations, as console.store.service.Store has them, on a SQLite file."""

    def __init__(self, rows: list[CalibrationRecord]):
        self._rows = rows

    def find_calibration(self, environment: str, variant: str, fingerprint: str, digest: str):
        """The saved Calibration for this machine fingerprint and this digest of what it timed, or None."""
        for record in self._rows:
            cal = record.calibration
            if (record.environment, record.variant, cal.fingerprint, cal.digest) == (environment, variant,
                                                                                      fingerprint, digest):
                return cal
        return None

    def calibrations(self, environment: str | None = None) -> list[CalibrationRecord]:
        """Saved calibrations (of one environment), by environment, variant, newest saved first."""
        rows = [r for r in self._rows if environment is None or r.environment == environment]
        rows.sort(key=lambda r: -r.saved_at)
        return sorted(rows, key=lambda r: (r.environment, r.variant))


def quick_calibrations(url: str | None, data_dir: Path, environment: str) -> QuickCalibrations | None:
    """The saved calibrations of `environment`, read without SQLAlchemy; None where the store must answer."""
    file = database_file(url, data_dir)
    if file is None:
        return None
    if not file.exists():
        return QuickCalibrations([])
    from environments.model import Calibration

    try:
        conn = sqlite3.connect(f"file:{quote(str(file))}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return None
    try:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if version is None or version[0] != str(SCHEMA_VERSION):
            return None
        found = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM calibrations WHERE environment = ?",
                             (environment,)).fetchall()
        rows = []
        for values in found:
            row = dict(zip(_COLUMNS, values))
            cal = Calibration(**{k: row[k] for k in CALIBRATION_FIELDS})
            rows.append(CalibrationRecord(environment=row["environment"], variant=row["variant"], calibration=cal,
                                          saved_at=row["saved_at"]))
        return QuickCalibrations(rows)
    except (sqlite3.Error, TypeError, ValueError):
        return None
    finally:
        conn.close()
