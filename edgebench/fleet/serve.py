"""`edgebench serve`: the fleet server on uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from edgebench.fileio import Terminated
from edgebench.fleet.app import create_app, open_fleet
from edgebench.fleet.jobs import FleetSettings


def serve(*, data_dir: Path, db: Optional[str], host: str, port: int, settings: FleetSettings,
          log: Callable[[str], None] = print) -> None:
    import uvicorn  # the server extra's ASGI server, imported by this command only

    fleet, admin = open_fleet(data_dir, db, settings)
    if admin is not None:
        log(f"admin token: {admin}")
        log("(shown once: keep it; it is stored only as a hash)")
    log(f"edgebench fleet on http://{host}:{port}/ (data in {data_dir}, database "
        f"{'SQLite in the data folder' if db is None else db.split('@')[-1]})")
    config = uvicorn.Config(create_app(fleet), host=host, port=port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=3)
    try:
        uvicorn.Server(config).run()
    except (KeyboardInterrupt, Terminated):  # uvicorn has shut down cleanly and passes the signal on
        log("stopped")
