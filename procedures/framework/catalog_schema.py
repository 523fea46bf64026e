"""The catalog's schema: versioned Alembic migrations, applied once whoever opens first.

The schema is defined by the migrations in ``procedures/framework/migrations/versions/`` (revision
``0001``
is the ``runs`` table of MemProbe 0.1); :class:`~procedures.framework.catalog.RunRecord` only maps
it. On
every open, :func:`upgrade` compares the database's revision (Alembic's ``alembic_version``
table) with the newest migration and, if they differ, migrates under a file lock beside the
SQLite file, so six processes opening a new catalog at once create it exactly once and the others
find it done. A catalog made before migrations existed (a ``runs`` table, no version) is stamped
``0001`` first. On PostgreSQL the migration runs in one transaction holding a transaction-level
advisory lock (``pg_advisory_xact_lock``, key :data:`PG_MIGRATION_LOCK`): stations opening a new
or old shared catalog at once migrate it exactly once, the others wait on the lock, then find the
revision current and do nothing (PostgreSQL's DDL is transactional: a failed migration leaves
the old schema). Other server databases: start the first client alone after an upgrade.

SQLite connections are set up for several processes writing at once (:func:`sqlite_setup`):
a busy timeout, write-ahead logging, and transactions that take the write lock when they begin
(``BEGIN IMMEDIATE``), so a read-then-write transaction waits for another writer instead of
failing with "database is locked" when it tries to write.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, Engine

# Alembic reports every plugin and step at INFO: a new data folder would print a screenful
logging.getLogger("alembic").setLevel(logging.WARNING)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: the revision of catalogs created before migrations existed
BASELINE = "0001"
#: how long a connection waits for another process's write, in s
BUSY_TIMEOUT_S = 60.0
#: how long an opener waits for another process's migration, in s
MIGRATION_LOCK_TIMEOUT_S = 120.0
#: PostgreSQL advisory lock key of the catalog migration (any fixed 64-bit number; "memprobe")
PG_MIGRATION_LOCK = 0x6D656D70726F6265


def sqlite_setup(engine: Engine) -> None:
    """Busy timeout, WAL and write-locking transactions on every connection of ``engine``."""
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # transactions are begun by _sqlite_begin, not the driver
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")  # first: WAL may wait
    cur.execute("PRAGMA journal_mode=WAL")  # readers (the GUI) never block the writer
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest migration's revision."""
    from alembic.script import ScriptDirectory

    cfg = _alembic_config(None)  # type: ignore[arg-type]
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision (None: new, or made before migrations existed)."""
    with engine.connect() as conn:
        return _revision(conn)


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, lock_path: Path | None) -> bool:
    """Bring the database to the newest revision; True if a migration ran here.

    ``lock_path``: file lock serialising the migration between processes (SQLite); None for a
    server database.
    """
    head = head_revision()
    if current_revision(engine) == head:
        return False
    if lock_path is None:
        return _upgrade_locked(engine, head)
    import filelock

    with filelock.FileLock(str(lock_path), timeout=MIGRATION_LOCK_TIMEOUT_S, thread_local=False):
        return _upgrade_locked(engine, head)


def _upgrade_locked(engine: Engine, head: str) -> bool:
    from alembic import command

    if current_revision(engine) == head:  # another process did it while we waited
        return False
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # held until this transaction ends
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
            if _revision(conn) == head:  # another station migrated while we waited
                return False
        cfg = _alembic_config(conn)
        if not inspect(conn).has_table("alembic_version") and inspect(conn).has_table("runs"):
            command.stamp(cfg, BASELINE)  # a catalog of MemProbe 0.1
        command.upgrade(cfg, "head")
    return True


__all__ = ["BASELINE", "BUSY_TIMEOUT_S", "current_revision", "head_revision", "sqlite_setup",
           "upgrade"]
