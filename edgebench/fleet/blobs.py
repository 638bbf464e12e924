"""Blobs (bundles packed as tar, results as JSON) stored by their sha256 under the data folder: `blobs/ab/abcd...`.
An upload streams to a temporary file beside its destination, is hashed on the way, and is renamed into place only
when its content matches the name it was sent under. Nothing is written outside the data folder."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import AsyncIterator, Optional

HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class BlobError(Exception):
    """400 (the name or the content is wrong) or 413 (too large), with the reason."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class BlobStore:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.incoming = self.root / "incoming"
        self.incoming.mkdir(parents=True, exist_ok=True)
        for stale in self.incoming.iterdir():  # uploads cut off by a crash or a restart
            stale.unlink(missing_ok=True)

    def path(self, sha256: str) -> Path:
        if not HEX_DIGEST.match(sha256):
            raise BlobError(400, f"'{sha256[:80]}' is not a blob name: give the sha256 of its content, 64 lowercase "
                                 "hex digits")
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def read(self, sha256: str) -> Optional[bytes]:
        path = self.path(sha256)
        return path.read_bytes() if path.is_file() else None

    async def receive(self, sha256: str, chunks: AsyncIterator[bytes], limit: int) -> int:
        """Stores the streamed content under `sha256` when it hashes to it; returns its size in bytes."""
        final = self.path(sha256)
        temporary = self.incoming / f"{secrets.token_hex(8)}.part"
        hasher, size = hashlib.sha256(), 0
        try:
            with open(temporary, "wb") as handle:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise BlobError(413, f"the upload is larger than the server's limit of {limit} bytes")
                    hasher.update(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            if hasher.hexdigest() != sha256:
                raise BlobError(400, f"the content's sha256 is {hasher.hexdigest()}, not {sha256}: nothing was stored")
            final.parent.mkdir(exist_ok=True)
            os.replace(temporary, final)
        finally:
            temporary.unlink(missing_ok=True)
        return size
