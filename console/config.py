"""Settings: where the data lives and which database to use (environment variables, then defaults)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def default_data_dir() -> Path:
    """$REARENA_DATA_DIR, else $XDG_DATA_HOME/rearena, else ~/.local/share/rearena."""
    if os.environ.get("REARENA_DATA_DIR"):
        return Path(os.environ["REARENA_DATA_DIR"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base).expanduser() / "rearena"


@dataclass(frozen=True)
class Settings:
    """What a rearena process needs to find its data."""

    data_dir: Path
    """Folder for the SQLite database, snapshots and trial workdirs."""
    db_url: str | None = None
    """Any SQLAlchemy URL; None means SQLite at <data_dir>/rearena.db. Env: REARENA_DB."""

    @classmethod
    def load(cls, data_dir: str | None = None, db_url: str | None = None) -> "Settings":
        """Settings from arguments, then environment variables, then defaults."""
        return cls(
            data_dir=Path(data_dir).expanduser() if data_dir else default_data_dir(),
            db_url=db_url or os.environ.get("REARENA_DB") or None,
        )
