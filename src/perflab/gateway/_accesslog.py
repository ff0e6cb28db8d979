"""The access log: one line per request (or one in `sample`), text or JSON lines.

Written and flushed line by line to stdout or a file opened for appending, so
a line is there as soon as the request is answered (`tail -f`, a test); that
is one write system call per logged request, which `sample` divides.
"""

from __future__ import annotations

import json
import sys
import time
from typing import IO, TYPE_CHECKING

from perflab.gateway._config import AccessLog

if TYPE_CHECKING:
    from perflab.gateway._app import Request, Response

__all__ = ["AccessLogWriter"]


class AccessLogWriter:
    def __init__(self, config: AccessLog) -> None:
        self.sample = config.sample
        self.json = config.format == "json"
        self.count = 0
        self.out: IO[str] = (sys.stdout if config.target == "-"
                             else open(config.target, "a", encoding="utf-8"))  # noqa: SIM115

    def __call__(self, req: Request, resp: Response) -> None:
        self.count += 1
        if self.count % self.sample:
            return
        ms = (time.perf_counter() - req.started) * 1e3
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        target = req.path + (f"?{req.query}" if req.query else "")
        method, client = req.method.decode("latin-1"), req.client.decode("latin-1")
        request_id = req.id.decode("latin-1")
        if self.json:
            line = json.dumps({"time": stamp, "client": client, "method": method,
                               "target": target, "status": resp.status,
                               "bytes": len(resp.body), "ms": round(ms, 3), "id": request_id})
        else:
            line = (f"{stamp} {client} {json.dumps(f'{method} {target}')} {resp.status} "
                    f"{len(resp.body)} {ms:.1f}ms {request_id}")
        self.out.write(line + "\n")
        self.out.flush()

    def close(self) -> None:
        if self.out is not sys.stdout:
            self.out.close()
