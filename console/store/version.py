"""The schema version of the store's tables and the SQLite file's name (here, apart from the tables, so that
reading them costs no SQLAlchemy)."""

SCHEMA_VERSION = 2  # bump when a table changes, with an upgrade step in db.UPGRADES from the version before
DB_FILENAME = "rearena.db"  # in the data folder, unless --db / REARENA_DB names another database
