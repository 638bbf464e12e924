"""What every route shares: the `Fleet` (sessions, blob store, settings) and the caller's token."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Iterator, Optional, Tuple

from fastapi import Request
from sqlalchemy.orm import Session, sessionmaker

from edgebench.fleet import auth
from edgebench.fleet.blobs import BlobStore
from edgebench.fleet.jobs import FleetSettings

COOKIE = "edgebench_token"


@dataclass(kw_only=True)
class Fleet:
    sessions: sessionmaker
    blobs: BlobStore
    settings: FleetSettings
    generation: int = 0  # bumped whenever a job may have become available: wakes long polls at once
    started: float = field(default_factory=time.time)

    def wake(self) -> None:
        self.generation += 1

    @contextlib.contextmanager
    def transaction(self, token: Optional[str], roles: Tuple[str, ...]) -> Iterator[Tuple[Session, auth.Caller]]:
        """One transaction whose first step checks the caller's token and role; nothing is kept on an error."""
        with self.sessions.begin() as session:
            yield session, auth.check(session, token, roles)


def bearer(request: Request, cookie: bool = False) -> Optional[str]:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.cookies.get(COOKIE) if cookie else None


def fleet_of(request: Request) -> Fleet:
    return request.app.state.fleet
