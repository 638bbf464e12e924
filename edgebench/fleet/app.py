"""The fleet server's application: one `Fleet` (engine, blob store, settings) behind the API's and the page's
routes, errors as one-line JSON (`{"detail": ...}`) with the right status, and a limit on every request body."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional, Tuple

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import select

from edgebench.errors import EdgebenchError
from edgebench.fleet import auth, pages, routes_blobs, routes_device, routes_host
from edgebench.fleet.blobs import BlobError, BlobStore
from edgebench.fleet.context import Fleet
from edgebench.fleet.db import Token, database_url, make_engine, migrate, sessions
from edgebench.fleet.jobs import Conflict, FleetSettings
from edgebench.fleet.limits import BodyLimit

def _error(status: int, message: str, headers: Optional[dict] = None) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    if first.get("type") == "json_invalid":
        return f"the request body is not valid JSON ({first.get('ctx', {}).get('error', 'parse error')})"
    return f"{where}: {str(first.get('msg', 'invalid')).removeprefix('Value error, ')}"


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(auth.AuthError)
    async def _auth(request, exc: auth.AuthError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return _error(exc.status, str(exc), headers)

    @app.exception_handler(BlobError)
    async def _blob(request, exc: BlobError):
        return _error(exc.status, str(exc))

    @app.exception_handler(Conflict)
    async def _conflict(request, exc: Conflict):
        return _error(409, str(exc))

    @app.exception_handler(LookupError)
    async def _missing(request, exc: LookupError):
        return _error(404, str(exc).strip("'\""))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc: RequestValidationError):
        return _error(400, _validation_message(exc))

    @app.exception_handler(EdgebenchError)
    async def _refused(request, exc: EdgebenchError):
        return _error(400, str(exc))


def create_app(fleet: Fleet):
    """The ASGI application (FastAPI inside the body-size limit)."""
    app = FastAPI(title="edgebench fleet", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.fleet = fleet
    _handlers(app)
    app.include_router(routes_device.router)
    app.include_router(routes_blobs.router)
    app.include_router(routes_host.router)
    app.include_router(pages.router)

    @app.get("/api/v1/health")
    def health() -> dict:
        return {"ok": True, "uptime_s": round(time.time() - fleet.started, 1)}

    return BodyLimit(app, fleet.settings.max_json_bytes, fleet.settings.max_blob_bytes)


def open_fleet(data_dir: Path, db: Optional[str], settings: FleetSettings) -> Tuple[Fleet, Optional[str]]:
    """The data folder's fleet, its schema migrated; the admin token when this start created it (else None)."""
    url = database_url(db, data_dir)  # a bad --db is refused before anything is written
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    migrate(engine)
    fleet = Fleet(sessions=sessions(engine), blobs=BlobStore(data_dir / "blobs"), settings=settings)
    with fleet.sessions.begin() as session:
        has_admin = session.scalar(select(Token.id).where(Token.role == "admin").limit(1)) is not None
        admin = None if has_admin else auth.new_token(session, "admin")
    return fleet, admin
