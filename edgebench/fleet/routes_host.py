"""What the host calls: submit a job for a bundle it uploaded, follow and cancel jobs, list devices, and (admin)
create and revoke tokens."""

from __future__ import annotations

import json
import time
from typing import Optional

from fastapi import APIRouter, Request
from sqlalchemy import select

from edgebench.errors import EdgebenchError
from edgebench.fleet import auth, jobs
from edgebench.fleet.context import bearer, fleet_of
from edgebench.fleet.db import Device, Job, Token
from edgebench.fleet.models import SubmitIn, TokenIn
from edgebench.fleet.runargs import check_args

router = APIRouter(prefix="/api/v1")
HOST = ("admin", "submit")


@router.post("/jobs", status_code=201)
def submit(body: SubmitIn, request: Request) -> dict:
    fleet = fleet_of(request)
    with fleet.transaction(bearer(request), HOST) as (session, caller):
        try:
            args = check_args(body.args)
        except ValueError as exc:
            raise EdgebenchError(f"args: {exc}") from None
        if body.device is None and not body.labels:
            raise EdgebenchError("a job needs a device name or labels to say where it runs")
        if not fleet.blobs.has(body.bundle_sha256):
            raise EdgebenchError(f"bundle {body.bundle_sha256} was not uploaded: PUT it to "
                                 f"/api/v1/blobs/{body.bundle_sha256} first")
        now = time.time()
        job = Job(state="queued", device_name=body.device, labels=",".join(body.labels),
                  bundle_sha256=body.bundle_sha256, bundle_name=body.bundle_name, args=json.dumps(args),
                  max_duration=body.max_duration or fleet.settings.max_duration,
                  deadline=None if body.deadline_in is None else now + body.deadline_in,
                  max_attempts=body.max_attempts or fleet.settings.max_attempts, attempts=0, created_at=now,
                  reason="", submitted_by=caller.token_id)
        session.add(job)
        session.flush()
        view = jobs.job_view(job, None)
    fleet.wake()
    return view


def _names(session) -> dict:
    return dict(session.execute(select(Device.id, Device.name)).all())


@router.get("/jobs")
def list_jobs(request: Request, state: Optional[str] = None, limit: int = 100) -> list:
    if state is not None and state not in jobs.STATES:
        raise EdgebenchError(f"state '{state[:40]}' is not a job state: give one of {', '.join(jobs.STATES)}")
    fleet = fleet_of(request)
    with fleet.transaction(bearer(request), HOST) as (session, caller):
        jobs.reap(session, fleet.settings, time.time())
        query = select(Job).order_by(Job.id.desc()).limit(max(1, min(limit, 10_000)))
        rows = session.scalars(query.where(Job.state == state) if state else query).all()
        names = _names(session)
        return [jobs.job_view(job, names.get(job.device_id)) for job in rows]


def job_and_device(session, job_id: int):
    job = session.get(Job, job_id)
    if job is None:
        raise LookupError(f"job {job_id} does not exist")
    device = session.get(Device, job.device_id) if job.device_id is not None else None
    return job, device


@router.get("/jobs/{job_id}")
def get_job(job_id: int, request: Request) -> dict:
    fleet = fleet_of(request)
    with fleet.transaction(bearer(request), HOST) as (session, caller):
        jobs.reap(session, fleet.settings, time.time())
        job, device = job_and_device(session, job_id)
        return jobs.job_view(job, device.name if device else None)


@router.post("/jobs/{job_id}/cancel")
def cancel(job_id: int, request: Request) -> dict:
    fleet = fleet_of(request)
    with fleet.transaction(bearer(request), HOST) as (session, caller):
        job, _ = job_and_device(session, job_id)
        jobs.cancel(job, time.time(), f"token {caller.token_id}")
        return {"id": job.id, "state": job.state}


def device_view(session, device: Device, settings, now: float) -> dict:
    return {"id": device.id, "name": device.name, "labels": jobs.labels_of(device.labels),
            "state": jobs.device_state(session, device, settings, now), "last_seen": device.last_seen,
            "registered_at": device.registered_at, "clock_skew_s": round(device.clock_skew, 1),
            "token_id": device.token_id, "facts": json.loads(device.facts)}


@router.get("/devices")
def list_devices(request: Request) -> list:
    fleet = fleet_of(request)
    with fleet.transaction(bearer(request), HOST) as (session, caller):
        now = time.time()
        jobs.reap(session, fleet.settings, now)
        return [device_view(session, d, fleet.settings, now)
                for d in session.scalars(select(Device).order_by(Device.name)).all()]


@router.post("/tokens", status_code=201)
def create_token(body: TokenIn, request: Request) -> dict:
    with fleet_of(request).transaction(bearer(request), ("admin",)) as (session, caller):
        token = auth.new_token(session, body.role, body.expires_in)
        return {"token": token, "id": auth.token_id_of(token), "role": body.role}


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: str, request: Request) -> dict:
    with fleet_of(request).transaction(bearer(request), ("admin",)) as (session, caller):
        row = session.get(Token, token_id)
        if row is None:
            raise LookupError(f"token {token_id[:16]} does not exist")
        if row.id == caller.token_id:
            raise EdgebenchError("a token cannot revoke itself: use another admin token")
        row.revoked_at = row.revoked_at or time.time()
        return {"id": row.id, "role": row.role, "revoked": True}
