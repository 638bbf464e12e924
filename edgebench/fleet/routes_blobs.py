"""Blobs by sha256: PUT stores (submitters upload bundles, devices upload results), HEAD says whether the server
has one, GET reads one. A device reads only the bundle of the job it holds."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from edgebench.fleet import auth, jobs
from edgebench.fleet.context import bearer, fleet_of
from edgebench.fleet.db import Blob, Job

router = APIRouter(prefix="/api/v1")


def _check(request: Request, sha256: str, roles) -> auth.Caller:
    fleet = fleet_of(request)
    fleet.blobs.path(sha256)  # a name that is not a hex digest: 400 before anything else
    with fleet.transaction(bearer(request), roles) as (session, caller):
        if caller.role == "device":
            held = session.scalar(select(Job.id).where(Job.device_id == caller.device_id,
                                                       Job.state.in_(jobs.ACTIVE), Job.bundle_sha256 == sha256))
            if held is None:
                raise auth.AuthError(403, "a device reads only the bundle of the job it holds")
        return caller


@router.put("/blobs/{sha256}")
async def put_blob(sha256: str, request: Request) -> Response:
    fleet = fleet_of(request)
    fleet.blobs.path(sha256)
    await run_in_threadpool(_authorise_upload, request)
    existed = fleet.blobs.has(sha256)  # the content is checked all the same: a wrong one is refused
    size = await fleet.blobs.receive(sha256, request.stream(), fleet.settings.max_blob_bytes)
    await run_in_threadpool(_record, fleet, sha256, size)
    return Response(status_code=200 if existed else 201)


def _authorise_upload(request: Request) -> None:
    with fleet_of(request).transaction(bearer(request), ("admin", "submit", "device")):
        pass


def _record(fleet, sha256: str, size: int) -> None:
    with fleet.sessions.begin() as session:
        if session.get(Blob, sha256) is None:
            session.add(Blob(sha256=sha256, size=size, created_at=time.time()))


@router.head("/blobs/{sha256}")
def has_blob(sha256: str, request: Request) -> Response:
    _check(request, sha256, ("admin", "submit", "device"))
    return Response(status_code=200 if fleet_of(request).blobs.has(sha256) else 404)


@router.get("/blobs/{sha256}")
def get_blob(sha256: str, request: Request) -> Response:
    _check(request, sha256, ("admin", "submit", "device"))
    data = fleet_of(request).blobs.read(sha256)
    if data is None:
        raise LookupError(f"blob {sha256} is not on this server")
    return Response(data, media_type="application/octet-stream")
