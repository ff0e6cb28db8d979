"""Middleware (`MIDDLEWARES`): the same hooks, run nested or flat.

A hook is a pair (before, after): `before(req)` may answer early (auth's 401,
/metrics), `after(req, resp)` sees every answer that passes back through it.
Both structures run the same hooks in the same order; only the structure
differs, so the ladder's "flat middleware" step measures only the structure.

    nested  each layer wraps the next, as a first version writes it: per request,
            a closure per layer to pass the answer back out through its after
    flat    the befores in a list, then the afters in a list: no closure at all

A chain is built once, `(handle, finish)`: the server core calls `handle(req)`;
the route handler ends every request with `finish(req, resp)`, which runs what
is left of the afters and then `req.reply(resp)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from perflab.gateway._app import Request, Response

__all__ = ["MIDDLEWARES", "Chain", "Hook"]

Before = Callable[["Request"], "Response | None"]
After = Callable[["Request", "Response"], None]
Hook = tuple[Before | None, After | None]
Terminal = Callable[["Request"], None]


class Chain(NamedTuple):
    handle: Callable[[Request], None]
    finish: Callable[[Request, Response], None]


def nested(hooks: Sequence[Hook], terminal: Terminal) -> Chain:
    handler = terminal
    for before, after in reversed(hooks):
        handler = _layer(before, after, handler)
    return Chain(handler, _reply)


def _reply(req: Request, resp: Response) -> None:
    req.reply(resp)


def _layer(before: Before | None, after: After | None, inner: Terminal) -> Terminal:
    def layer(req: Request) -> None:
        if before is not None:
            early = before(req)
            if early is not None:
                if after is not None:
                    after(req, early)
                req.reply(early)
                return
        outer = req.reply

        def replied(resp: Response) -> None:
            if after is not None:
                after(req, resp)
            outer(resp)

        req.reply = replied
        inner(req)

    return layer


def flat(hooks: Sequence[Hook], terminal: Terminal) -> Chain:
    # Each before with the afters to run when it answers early: those of the hooks that
    # ran, inner first; hooks with nothing to do on a side are left out of that side.
    befores = [(b, [a for _, a in reversed(hooks[:i + 1]) if a is not None])
               for i, (b, _) in enumerate(hooks) if b is not None]
    afters = [a for _, a in reversed(hooks) if a is not None]

    def handle(req: Request) -> None:
        for before, early_afters in befores:
            early = before(req)
            if early is not None:
                for after in early_afters:
                    after(req, early)
                req.reply(early)
                return
        terminal(req)

    def finish(req: Request, resp: Response) -> None:
        for after in afters:
            after(req, resp)
        req.reply(resp)

    return Chain(handle, finish)


MIDDLEWARES: dict[str, Callable[[Sequence[Hook], Terminal], Chain]] = {
    "nested": nested, "flat": flat}
