"""Request bodies past a limit get 413 before a route reads them: a declared Content-Length over the limit is
refused at once; a body sent without one is read up to the limit and refused past it. Blob uploads have their own,
larger limit, which the blob store also counts as the upload streams in."""

from __future__ import annotations

import json


class BodyLimit:
    """ASGI middleware: `limit` bytes for every request body except PUT /api/v1/blobs/..., which gets `blob_limit`."""

    def __init__(self, app, limit: int, blob_limit: int):
        self.app, self.limit, self.blob_limit = app, limit, blob_limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        is_blob = scope["method"] == "PUT" and scope["path"].startswith("/api/v1/blobs/")
        limit = self.blob_limit if is_blob else self.limit
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await _refuse(send, limit)
        if is_blob:
            return await self.app(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                return await _refuse(send, limit)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _refuse(send, limit: int) -> None:
    body = json.dumps({"detail": f"the request body is larger than the server's limit of {limit} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
