"""The fleet's tables and its engine: SQLite in the data folder (WAL, a busy timeout, every transaction
`BEGIN IMMEDIATE`, so a claim never reads a row another writer is about to take), or PostgreSQL (claims with
`FOR UPDATE SKIP LOCKED`). The schema is created and upgraded by the Alembic migrations shipped beside this file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from sqlalchemy import Float, ForeignKey, Integer, String, Text, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from edgebench.errors import EdgebenchError

BUSY_TIMEOUT_MS = 30_000
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class Base(DeclarativeBase):
    pass


class Token(Base):
    __tablename__ = "tokens"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the whole token; the token itself is never kept
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[Optional[float]] = mapped_column(Float, nullable=True)
    revoked_at: Mapped[Optional[float]] = mapped_column(Float, nullable=True)
    device_id: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    labels: Mapped[str] = mapped_column(Text, default="")  # comma-separated, sorted
    facts: Mapped[str] = mapped_column(Text, default="{}")  # JSON, as the device reported it
    token_id: Mapped[str] = mapped_column(String(16), ForeignKey("tokens.id"))
    registered_at: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float] = mapped_column(Float)
    clock_skew: Mapped[float] = mapped_column(Float, default=0.0)  # device clock minus server clock, seconds
    last_finished: Mapped[Optional[float]] = mapped_column(Float, nullable=True)


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    device_name: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    labels: Mapped[str] = mapped_column(Text, default="")
    bundle_sha256: Mapped[str] = mapped_column(String(64))
    bundle_name: Mapped[str] = mapped_column(String(128))
    args: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of the agent's run options
    max_duration: Mapped[float] = mapped_column(Float)
    deadline: Mapped[Optional[float]] = mapped_column(Float, nullable=True)
    max_attempts: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_id: Mapped[Optional[str]] = mapped_column(String(64), nullable=True, unique=True)
    lease_expires: Mapped[Optional[float]] = mapped_column(Float, nullable=True)
    device_id: Mapped[Optional[int]] = mapped_column(Integer, ForeignKey("devices.id"), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    leased_at: Mapped[Optional[float]] = mapped_column(Float, nullable=True)
    started_at: Mapped[Optional[float]] = mapped_column(Float, nullable=True)
    finished_at: Mapped[Optional[float]] = mapped_column(Float, nullable=True)
    result_sha256: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    submitted_by: Mapped[str] = mapped_column(String(16))


class Blob(Base):
    __tablename__ = "blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float)


def database_url(db: Optional[str], data_dir: Path) -> str:
    """`--db` as SQLAlchemy reads it: postgresql:// uses psycopg 3; the default is SQLite in the data folder."""
    if db is None:
        return f"sqlite:///{(data_dir / 'fleet.sqlite3').absolute()}"
    if db.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + db.split("://", 1)[1]
    if db.startswith(("postgresql+psycopg://", "sqlite:///")):
        return db
    raise EdgebenchError(f"--db {db.split('@')[-1]} is not a database URL: give postgresql://USER@HOST:PORT/NAME, "
                         "or leave it out for SQLite in --data-dir")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
                               pool_size=16, max_overflow=16)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    return create_engine(url, pool_size=16, max_overflow=16, pool_pre_ping=True)


def _sqlite_connect(dbapi_connection, record) -> None:
    dbapi_connection.isolation_level = None  # the driver begins nothing by itself: the "begin" event does
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (creates it on a new database)."""
    from alembic import command  # Alembic: only a start of the server migrates
    from alembic.config import Config  # alembic: server extra, loaded only when the database is migrated

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def sessions(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)
