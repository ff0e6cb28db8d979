"""perflab.bounded's memory guard around a small Starlette app that reads whole bodies.

    uvicorn examples.bounded_starlette:app --port 8000            # guarded
    BOUNDED_EXAMPLE_GUARD=0 uvicorn examples.bounded_starlette:app  # the same app, bare

`POST /upload` reads the whole body (Starlette's `request.body()`: the chunks, then
one joined copy) and answers its size and digest; `GET /` is a small page. Under a
memory limit, concurrent large uploads are what kill such an app; the middleware
answers 503 + Retry-After to the upload that would cross `shed_at` (as its body
arrives), and `/ready` fails while it does, so a readiness probe takes it out of
rotation. `/health` stays the app's own liveness check.

    perflab bounded soak --memory-limit 128MiB --upload-path /upload --upload-size 30MB \
        --uploaders 4 -- uvicorn examples.bounded_starlette:app --port {port}
"""

from __future__ import annotations

import hashlib
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from perflab.bounded import MemoryGuardMiddleware


async def upload(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()})


async def index(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello\n")


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok\n")


routes = [Route("/", index), Route("/health", health), Route("/upload", upload, methods=["POST"])]
app = Starlette(routes=routes)

if os.environ.get("BOUNDED_EXAMPLE_GUARD", "1") != "0":
    # The limit comes from the cgroup (or PERFLAB_MEMORY_LIMIT). A whole-body read is
    # copied once more when joined: shed early enough for that copy to fit.
    app = MemoryGuardMiddleware(app, shed_at=0.7, trim_at=0.6,  # type: ignore[assignment]
                                metrics_path="/metrics")
