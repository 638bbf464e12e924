"""A result a device uploads is checked as `edgebench report` checks it before the job may finish with it."""

from __future__ import annotations

import json

from edgebench.errors import EdgebenchError
from edgebench.fleet.blobs import BlobStore
from edgebench.report.load import RESULT_KIND, check_result


def check_result_blob(blobs: BlobStore, sha256: str, device_name: str) -> dict:
    data = blobs.read(sha256)
    if data is None:
        raise EdgebenchError(f"result {sha256} was not uploaded: PUT it to /api/v1/blobs/{sha256} first")
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise EdgebenchError(f"result {sha256} is not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("kind") != RESULT_KIND:
        raise EdgebenchError(f"result {sha256} is not an edgebench result (kind '{RESULT_KIND}')")
    check_result(document, f"result {sha256[:12]}")
    named = (document.get("device") or {}).get("name")
    if named != device_name:
        raise EdgebenchError(f"result {sha256[:12]} is named for device '{str(named)[:64]}', not '{device_name}': "
                             "a device completes only its own jobs")
    return document
