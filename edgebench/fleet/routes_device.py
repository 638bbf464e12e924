"""What a device calls: register (with a registration token, once), then lease (a long poll), heartbeat,
complete or release its own lease, and read the bundle of the job it holds. Blob uploads are here too."""

from __future__ import annotations

import asyncio
import json
import time

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from edgebench.errors import EdgebenchError
from edgebench.fleet import auth, jobs
from edgebench.fleet.context import bearer, fleet_of
from edgebench.fleet.db import Device, Token
from edgebench.fleet.models import CompleteIn, LeaseIn, LeaseRef, RegisterIn, ReleaseIn
from edgebench.fleet.results import check_result_blob

router = APIRouter(prefix="/api/v1")
DEVICE = ("device",)
RECHECK_S = 1.0  # a waiting lease looks at the database at least this often (expired leases, other servers)


def _device(session, caller: auth.Caller) -> Device:
    device = session.get(Device, caller.device_id)
    if device is None:
        raise auth.AuthError(401, "this device token belongs to no device")
    return device


def _seen(device: Device, clock, now: float) -> None:
    device.last_seen = now
    if clock is not None:
        device.clock_skew = float(clock) - now


@router.post("/register", status_code=201)
def register(body: RegisterIn, request: Request) -> dict:
    fleet = fleet_of(request)
    facts = json.dumps(body.facts, sort_keys=True, default=str)
    if len(facts) > 64 * 1024:
        raise EdgebenchError("facts are larger than 64 KiB: send fewer")
    with fleet.transaction(bearer(request), ("register",)) as (session, caller):
        now = time.time()
        device = session.scalars(select(Device).where(Device.name == body.name)).one_or_none()
        if device is not None and jobs.device_state(session, device, fleet.settings, now) != "revoked":
            raise jobs.Conflict(f"device name '{body.name}' is taken: choose another --name, or revoke that "
                                "device's token first (edgebench fleet token revoke)")
        token = auth.new_token(session, "device")
        session.flush()
        if device is None:
            device = Device(name=body.name, registered_at=now, last_seen=now, token_id=auth.token_id_of(token))
            session.add(device)
            session.flush()
        session.get(Token, auth.token_id_of(token)).device_id = device.id
        device.token_id, device.labels, device.facts = auth.token_id_of(token), ",".join(body.labels), facts
        device.registered_at = now
        _seen(device, body.clock, now)
    return {"device_token": token, "device_id": device.id, "name": device.name}


def _try_claim(fleet, token: str, clock) -> dict:
    with fleet.transaction(token, DEVICE) as (session, caller):
        now = time.time()
        device = _device(session, caller)
        _seen(device, clock, now)
        job = jobs.claim(session, device, fleet.settings, now)
        if job is None:
            return {}
        return {"job_id": job.id, "lease_id": job.lease_id, "lease_ttl": fleet.settings.lease_ttl,
                "bundle_sha256": job.bundle_sha256, "bundle_name": job.bundle_name, "args": json.loads(job.args),
                "max_duration": job.max_duration, "device_name": device.name, "attempt": job.attempts}


@router.post("/lease")
async def lease(body: LeaseIn, request: Request):
    """A job leased to this device, or 204 after `wait` seconds with none."""
    fleet, token = fleet_of(request), bearer(request)
    give_up = time.monotonic() + body.wait
    seen, checked = -1, 0.0
    while True:
        if fleet.generation != seen or time.monotonic() - checked >= RECHECK_S:
            seen, checked = fleet.generation, time.monotonic()
            offer = await run_in_threadpool(_try_claim, fleet, token, body.clock)
            if offer:
                return offer
        if time.monotonic() >= give_up or await request.is_disconnected():
            return Response(status_code=204)
        await asyncio.sleep(0.05)


@router.post("/jobs/{job_id}/heartbeat")
def heartbeat(job_id: int, body: LeaseRef, request: Request) -> dict:
    """Renews the lease (the run goes on); 409 once it is not this device's any more (cancelled, lost)."""
    fleet = fleet_of(request)
    with fleet.transaction(bearer(request), DEVICE) as (session, caller):
        now = time.time()
        _seen(_device(session, caller), None, now)
        job = jobs.held_job(session, job_id, body.lease_id, caller.device_id)
        jobs.heartbeat(job, fleet.settings, now)
        return {"state": job.state, "lease_ttl": fleet.settings.lease_ttl}


@router.post("/jobs/{job_id}/complete")
def complete(job_id: int, body: CompleteIn, request: Request) -> dict:
    fleet = fleet_of(request)
    with fleet.transaction(bearer(request), DEVICE) as (session, caller):
        now = time.time()
        device = _device(session, caller)
        _seen(device, None, now)
        job = jobs.held_job(session, job_id, body.lease_id, caller.device_id)
        if body.result_sha256 is not None:
            check_result_blob(fleet.blobs, body.result_sha256, device.name)
        elif body.outcome == "succeeded":
            raise EdgebenchError("a succeeded job needs its result: upload it and give result_sha256")
        jobs.complete(job, device, body.outcome, body.result_sha256, body.error, now)
        state = job.state
    fleet.wake()
    return {"state": state}


@router.post("/jobs/{job_id}/release")
def release(job_id: int, body: ReleaseIn, request: Request) -> dict:
    """The device gives the job back unfinished (it was stopped, or could not fetch the bundle)."""
    fleet = fleet_of(request)
    with fleet.transaction(bearer(request), DEVICE) as (session, caller):
        now = time.time()
        job = jobs.held_job(session, job_id, body.lease_id, caller.device_id)
        jobs.release(job, now, f"the device gave it back: {body.reason or 'no reason given'}")
        state = job.state
    fleet.wake()
    return {"state": state}
