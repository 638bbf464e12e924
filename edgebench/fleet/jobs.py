"""Jobs and leases: `queued -> leased -> running -> succeeded | failed`, or `errored` (the device was lost more
than the allowed number of times), `expired` (no device took it before its deadline), `cancelled`.

A lease lasts `lease_ttl` seconds and each heartbeat renews it; a lease that runs out sends the job back to the
queue. Every rule is applied to the database inside one transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: the rows
locked FOR UPDATE SKIP LOCKED), and a device's state is computed from it, never kept apart."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import List, Optional

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from edgebench.fleet.db import Device, Job, Token

ACTIVE = ("leased", "running")
FINAL = ("succeeded", "failed", "errored", "expired", "cancelled")
STATES = ("queued",) + ACTIVE + FINAL


@dataclass(frozen=True, kw_only=True)
class FleetSettings:
    lease_ttl: float = 30.0
    cooldown: float = 0.0  # seconds a device rests between jobs
    max_attempts: int = 3  # leases a job may lose before it is `errored`
    online_window: float = 60.0  # a device seen within this many seconds is online
    max_duration: float = 3600.0  # default for jobs that name none
    max_blob_bytes: int = 512 << 20
    max_json_bytes: int = 1 << 20


class Conflict(Exception):
    """The lease is not (or no longer) the caller's: 409, nothing changed."""


def labels_of(text: str) -> List[str]:
    return [label for label in text.split(",") if label]


def device_state(session: Session, device: Device, settings: FleetSettings, now: float) -> str:
    """online, busy, offline or revoked, from the tables alone."""
    token = session.get(Token, device.token_id)
    if token is None or token.revoked_at is not None:
        return "revoked"
    busy = session.scalar(select(Job.id).where(Job.device_id == device.id, Job.state.in_(ACTIVE),
                                               Job.lease_expires > now).limit(1))
    if busy is not None:
        return "busy"
    return "online" if now - device.last_seen <= settings.online_window else "offline"


def reap(session: Session, settings: FleetSettings, now: float) -> None:
    """Apply the clock: lost leases go back to the queue (or `errored`), runs past their maximum duration fail,
    queued jobs past their deadline expire."""
    lost = session.scalars(select(Job).where(Job.state.in_(ACTIVE), Job.lease_expires < now)
                           .with_for_update(skip_locked=True)).all()
    for job in lost:
        overdue = job.started_at is not None and now > job.started_at + job.max_duration + settings.lease_ttl
        if overdue:
            _finish(job, "failed", now, f"ran past its maximum duration of {job.max_duration:g} s")
        else:
            _lost(job, now, "its lease ran out (no heartbeat)")
    over = session.scalars(select(Job).where(Job.state == "running", Job.started_at.is_not(None))
                           .with_for_update(skip_locked=True)).all()
    for job in over:
        if now > job.started_at + job.max_duration + settings.lease_ttl:
            _finish(job, "failed", now, f"ran past its maximum duration of {job.max_duration:g} s")
    late = session.scalars(select(Job).where(Job.state == "queued", Job.deadline < now)
                           .with_for_update(skip_locked=True)).all()
    for job in late:
        _finish(job, "expired", now, f"no device {target_text(job)} took it before its deadline; "
                                     f"{_matching(session, job, settings, now)}")


def _lost(job: Job, now: float, why: str) -> None:
    job.lease_id, job.lease_expires, job.device_id = None, None, None
    if job.attempts >= job.max_attempts:
        _finish(job, "errored", now, f"the device was lost {job.attempts} time(s), the last: {why}")
    else:
        job.state, job.reason = "queued", f"back in the queue after attempt {job.attempts}: {why}"


def _finish(job: Job, state: str, now: float, reason: str) -> None:
    job.state, job.reason, job.finished_at = state, reason, now
    job.lease_id, job.lease_expires = None, None


def target_text(job: Job) -> str:
    parts = [f"named '{job.device_name}'"] if job.device_name else []
    parts += [f"labelled {job.labels}"] if job.labels else []
    return " and ".join(parts) or "at all"


def _matching(session: Session, job: Job, settings: FleetSettings, now: float) -> str:
    devices = [d for d in session.scalars(select(Device)).all() if fits(job, d)]
    if not devices:
        return "no such device is registered"
    states = sorted({f"{d.name}: {device_state(session, d, settings, now)}" for d in devices})
    return "matching devices: " + ", ".join(states[:10])


def fits(job: Job, device: Device) -> bool:
    if job.device_name and job.device_name != device.name:
        return False
    return set(labels_of(job.labels)) <= set(labels_of(device.labels))


def claim(session: Session, device: Device, settings: FleetSettings, now: float) -> Optional[Job]:
    """The oldest queued job this device may run, leased to it; None when there is none (or it is resting).
    A device asking for work holds no other lease: one it still held is given back first."""
    reap(session, settings, now)
    for held in session.scalars(select(Job).where(Job.device_id == device.id, Job.state.in_(ACTIVE))).all():
        _lost(held, now, "the device asked for new work without finishing it (it restarted)")
    if device.last_finished is not None and now < device.last_finished + settings.cooldown:
        return None
    candidates = session.scalars(
        select(Job).where(Job.state == "queued", or_(Job.device_name.is_(None), Job.device_name == device.name))
        .order_by(Job.id).limit(64).with_for_update(skip_locked=True)).all()
    job = next((job for job in candidates if fits(job, device)), None)
    if job is None:
        return None
    job.state, job.device_id, job.leased_at = "leased", device.id, now
    job.lease_id, job.lease_expires = secrets.token_urlsafe(24), now + settings.lease_ttl
    job.attempts += 1
    return job


def held_job(session: Session, job_id: int, lease_id: str, device_id: int) -> Job:
    """The job under this lease, locked; Conflict when the lease is stale, another's, or the job is over."""
    job = session.scalars(select(Job).where(Job.id == job_id).with_for_update()).one_or_none()
    if job is None:
        raise LookupError(f"job {job_id} does not exist")
    if job.state in FINAL:
        raise Conflict(f"job {job_id} is {job.state}: the lease is over")
    if job.device_id != device_id or job.lease_id is None or not secrets.compare_digest(job.lease_id, lease_id):
        raise Conflict(f"the lease on job {job_id} is not this device's (it ran out and the job went back to "
                       "the queue, or the lease id is wrong)")
    return job


def heartbeat(job: Job, settings: FleetSettings, now: float) -> None:
    if job.state == "leased":
        job.state, job.started_at = "running", now
    job.lease_expires = now + settings.lease_ttl


def complete(job: Job, device: Device, outcome: str, result_sha256: Optional[str], error: str, now: float) -> None:
    _finish(job, outcome, now, error)
    job.result_sha256 = result_sha256
    device.last_finished = now


def release(job: Job, now: float, why: str) -> None:
    _lost(job, now, why)


def cancel(job: Job, now: float, who: str) -> None:
    if job.state in FINAL:
        raise Conflict(f"job {job.id} is already {job.state}")
    _finish(job, "cancelled", now, f"cancelled by {who}")


def job_view(job: Job, device_name: Optional[str]) -> dict:
    return {"id": job.id, "state": job.state, "device": job.device_name, "labels": labels_of(job.labels),
            "ran_on": device_name, "bundle_sha256": job.bundle_sha256, "bundle_name": job.bundle_name,
            "args": json.loads(job.args), "max_duration": job.max_duration, "deadline": job.deadline,
            "attempts": job.attempts, "max_attempts": job.max_attempts, "created_at": job.created_at,
            "leased_at": job.leased_at, "started_at": job.started_at, "finished_at": job.finished_at,
            "result_sha256": job.result_sha256, "reason": job.reason}


def now() -> float:
    return time.time()
