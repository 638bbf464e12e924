"""The read-only web page: devices, jobs, and a job's result rendered by the report's HTML. Behind a token (a
cookie set by the login form, or `Authorization: Bearer`); every value is escaped, whatever a device reported."""

from __future__ import annotations

import contextlib
import datetime as _dt
import html
import json
import time
from typing import Iterator, List, Optional, Sequence
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from edgebench.fleet import auth, jobs
from edgebench.fleet.context import COOKIE, bearer, fleet_of
from edgebench.fleet.db import Device, Job
from edgebench.fleet.routes_host import device_view, job_and_device
from edgebench.report import build_rows
from edgebench.report.html import render_html
from edgebench.report.load import LoadedResult

router = APIRouter()
VIEWERS = ("admin", "submit")
# The pages run no script and load nothing from elsewhere; the report frame may run its own inline script.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'; form-action 'self'"
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'unsafe-inline'"
STYLE = """body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222} table{border-collapse:collapse;
font-size:.9rem} th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left} th{background:#f0f0f0}
.online{color:#170} .busy{color:#06c} .offline{color:#777} .revoked{color:#a00} nav a{margin-right:1rem}
iframe{width:100%;height:70vh;border:1px solid #ccc}"""


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def when(stamp: Optional[float]) -> str:
    if stamp is None:
        return "-"
    return _dt.datetime.fromtimestamp(stamp, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    text = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(title)}</title><style>{STYLE}</style>"
            f"</head><body><nav><a href='/'>devices</a><a href='/jobs'>jobs</a><a href='/logout'>log out</a></nav>"
            f"<h1>{esc(title)}</h1>{body}</body></html>")
    return HTMLResponse(text, status_code=status, headers={"Content-Security-Policy": CSP,
                                                            "X-Content-Type-Options": "nosniff"})


def table(headers: Sequence[str], rows: List[List[str]], table_id: str) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table id='{table_id}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


@contextlib.contextmanager
def _viewing(request: Request) -> Iterator[Optional[Session]]:
    """A read-only session for a page, or None when the caller has no viewing token (the page then redirects)."""
    with fleet_of(request).sessions.begin() as session:
        try:
            auth.check(session, bearer(request, cookie=True), VIEWERS)
        except auth.AuthError:
            yield None
            return
        yield session


def _login_redirect() -> Response:
    return RedirectResponse("/login", status_code=303)


def _facts(facts) -> str:
    """CPU, cores, Python, runtimes, emulated: whatever shape the device sent, shown as escaped text."""
    facts = facts if isinstance(facts, dict) else {}
    versions = facts.get("versions") if isinstance(facts.get("versions"), dict) else {}
    runtimes = [f"{k} {v}" for k, v in versions.items() if v and k not in ("python", "numpy", "psutil")]
    parts = [facts.get("cpu_model"), f"{facts.get('cores')} cores" if facts.get("cores") else None,
             f"Python {versions.get('python')}" if versions.get("python") else None, ", ".join(runtimes) or None,
             "EMULATED" if facts.get("emulated") else None]
    return esc(" | ".join(str(p) for p in parts if p))


@router.get("/", response_class=HTMLResponse)
def devices_page(request: Request):
    with _viewing(request) as session:
        if session is None:
            return _login_redirect()
        now = time.time()
        fleet = fleet_of(request)
        rows = []
        for device in session.scalars(select(Device).order_by(Device.name)).all():
            view = device_view(session, device, fleet.settings, now)
            skew = f" (clock off by {view['clock_skew_s']:+.0f} s)" if abs(view["clock_skew_s"]) > 60 else ""
            rows.append([esc(view["name"]), f"<span class='{view['state']}'>{esc(view['state'])}</span>",
                         esc(when(view["last_seen"])) + esc(skew), esc(", ".join(view["labels"])),
                         _facts(view["facts"])])
    return page("Devices", table(["device", "state", "last seen", "labels", "facts"], rows, "devices")
                if rows else "<p>No device has registered yet.</p>")


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request):
    with _viewing(request) as session:
        if session is None:
            return _login_redirect()
        fleet = fleet_of(request)
        jobs.reap(session, fleet.settings, time.time())
        names = dict(session.execute(select(Device.id, Device.name)).all())
        rows = [[f"<a href='/jobs/{job.id}'>{job.id}</a>", esc(job.state), esc(job.bundle_name),
                 esc(names.get(job.device_id) or jobs.target_text(job)), esc(when(job.created_at)),
                 esc(when(job.finished_at)), esc(job.reason)]
                for job in session.scalars(select(Job).order_by(Job.id.desc()).limit(500)).all()]
    return page("Jobs", table(["job", "state", "bundle", "device", "submitted", "finished", "reason"], rows, "jobs")
                if rows else "<p>No jobs yet.</p>")


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: int, request: Request):
    with _viewing(request) as session:
        if session is None:
            return _login_redirect()
        try:
            job, device = job_and_device(session, job_id)
        except LookupError as exc:
            return page("No such job", f"<p>{esc(exc)}</p>", status=404)
        view = jobs.job_view(job, device.name if device else None)
    fields = [["state", esc(view["state"])], ["bundle", esc(f"{view['bundle_name']} ({view['bundle_sha256'][:12]})")],
              ["device", esc(view["ran_on"] or jobs.target_text(job))], ["options", esc(" ".join(view["args"]))],
              ["attempts", esc(f"{view['attempts']} of {view['max_attempts']}")],
              ["submitted", esc(when(view["created_at"]))], ["started", esc(when(view["started_at"]))],
              ["finished", esc(when(view["finished_at"]))], ["reason", esc(view["reason"])]]
    body = table(["", ""], fields, "job")
    if view["result_sha256"]:
        body += f"<h2>Result</h2><iframe id='report' src='/jobs/{job_id}/report' title='result'></iframe>"
    return page(f"Job {job_id}", body)


@router.get("/jobs/{job_id}/report", response_class=HTMLResponse)
def job_report(job_id: int, request: Request):
    with _viewing(request) as session:
        if session is None:
            return _login_redirect()
        job, _ = job_and_device(session, job_id)
        sha256 = job.result_sha256
    if sha256 is None:
        raise LookupError(f"job {job_id} has no result")
    text = render_result(fleet_of(request).blobs.read(sha256) or b"{}", sha256)
    return HTMLResponse(text, headers={"Content-Security-Policy": REPORT_CSP, "X-Content-Type-Options": "nosniff"})


def render_result(data: bytes, sha256: str) -> str:
    """The report's own HTML for one result (its table, flags, confidence and sections; no plots)."""
    loaded = LoadedResult(path=Path(f"{sha256}.json"), document=json.loads(data.decode("utf-8")), sha256=sha256)
    rows, failures = build_rows([loaded])
    return render_html(rows, failures, [], {}, results=[loaded])


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, failed: int = 0):
    note = "<p class='revoked'>That token is not valid for this page.</p>" if failed else ""
    form = ("<form method='post' action='/login'><label>Token <input type='password' name='token' id='token' "
            "autocomplete='off' size='60'></label> <button type='submit' id='login'>Log in</button></form>")
    return page("Log in", note + form)


@router.post("/login")
async def login(request: Request):
    token = (parse_qs((await request.body()).decode("utf-8", "replace")).get("token") or [""])[0].strip()
    fleet = fleet_of(request)
    try:
        with fleet.transaction(token, VIEWERS):
            pass
    except auth.AuthError:
        return RedirectResponse("/login?failed=1", status_code=303)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", max_age=7 * 86400)
    return response


@router.get("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response
