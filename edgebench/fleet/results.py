"""A result a device uploads is checked as `edgebench report` checks it before the job may finish with it."""

from __future__ import annotations

from edgebench.errors import EdgebenchError
from edgebench.fleet.blobs import BlobStore
from edgebench.report.load import parse_result


def check_result_blob(blobs: BlobStore, sha256: str, device_name: str) -> dict:
    data = blobs.read(sha256)
    if data is None:
        raise EdgebenchError(f"result {sha256} was not uploaded: PUT it to /api/v1/blobs/{sha256} first")
    document = parse_result(data, f"result {sha256[:12]}")  # the one reader: JSON, kind, version, schema
    named = (document.get("device") or {}).get("name")
    if named != device_name:
        raise EdgebenchError(f"result {sha256[:12]} is named for device '{str(named)[:64]}', not '{device_name}': "
                             "a device completes only its own jobs")
    return document
