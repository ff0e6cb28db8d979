"""The workload: `id,name,email,signup_date,score,country,notes`, ~190 bytes a row.

Deterministic for a given seed. Quoted fields hold commas, doubled quotes and
newlines; empty fields (NULL) appear in the nullable columns. 10M rows is
~2 GB, as in the guide. `bad_ratio` plants malformed rows of every kind the
loader must reject (for tests and demos; the benchmark file is clean).
"""

from __future__ import annotations

import random
from pathlib import Path

__all__ = ["BAD_KINDS", "COLUMNS", "TABLE_DDL", "generate"]

COLUMNS = ("id", "name", "email", "signup_date", "score", "country", "notes")
TABLE_DDL = """CREATE TABLE IF NOT EXISTS {table} (
    id bigint NOT NULL,
    name varchar(80) NOT NULL,
    email text NOT NULL,
    signup_date date,
    score numeric(8,2),
    country char(2),
    notes text
)"""

_FIRST = ("Ada", "Grace", "Linus", "Guido", "Barbara", "Ken", "Dennis", "Margaret", "Alan",
          "Edsger", "Frances", "Niklaus", "Radia", "Donald", "Sophie", "Tim")
_LAST = ("Lovelace", "Hopper", "Torvalds", "van Rossum", "Liskov", "Thompson", "Ritchie",
         "Hamilton", "Turing", "Dijkstra", "Allen", "Wirth", "Perlman", "Knuth", "Wilson")
_COUNTRIES = ("US", "DE", "FR", "JP", "BR", "IN", "GB", "NL", "SE", "CA", "AU", "ES")
_NOTES = (
    "prefers email contact; renewal due next quarter, check billing address",
    'said "call me back" twice, then asked for a written quote, with numbers',
    "multi-line note:\nfirst visit at the Berlin office\nsecond visit remote",
    "VIP customer, escalations go to the account team, not support, thanks",
    "migrated from the legacy CRM in 2019; some history may be incomplete here",
)
# Malformed rows, one of each kind, with what the loader must say about them.
BAD_KINDS = (
    ("wrong field count", "{id},Only Name,only@example.com\n"),
    ("bad number", "{id},Bad Score,bad@example.com,2021-03-04,12x.5,US,\n"),
    ("bad date", "{id},Bad Date,date@example.com,2021-02-30,1.00,US,\n"),
    ("too long", "{id}," + "N" * 90 + ",long@example.com,2021-03-04,1.00,US,\n"),
    ("NULL in NOT NULL", "{id},,null@example.com,2021-03-04,1.00,US,\n"),
    ("bad quoting", '{id},"Bad "Quote",q@example.com,2021-03-04,1.00,US,\n'),
    ("invalid UTF-8", "{id},Bad \udcff Bytes,u@example.com,2021-03-04,1.00,US,\n"),
    ("bad integer", "x{id},Bad Id,i@example.com,2021-03-04,1.00,US,\n"),
)


def _quote(field: str) -> str:
    if any(c in field for c in ',"\n\r'):
        return '"' + field.replace('"', '""') + '"'
    return field


def _row(rng: random.Random, row_id: int) -> str:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    name = f"{last}, {first}" if rng.random() < 0.2 else f"{first} {last}"
    email = f"{first.lower()}.{last.lower().replace(' ', '')}{row_id}@example.com"
    date = "" if rng.random() < 0.05 else (
        f"{rng.randrange(2000, 2025)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}")
    score = "" if rng.random() < 0.05 else f"{rng.randrange(0, 100000) / 100:.2f}"
    country = rng.choice(_COUNTRIES)
    notes = "" if rng.random() < 0.1 else (
        rng.choice(_NOTES) + f" (ref {rng.randrange(10**8)}, owner {rng.choice(_FIRST)}"
        f" {rng.choice(_LAST)}, follow-up in {rng.randrange(2, 60)} days)")
    fields = (str(row_id), name, email, date, score, country, notes)
    return ",".join(_quote(f) for f in fields) + "\n"


def generate(path: Path, rows: int, *, seed: int = 42, bad_ratio: float = 0.0) -> int:
    """Write the CSV (with a header line); return the number of rows written."""
    rng = random.Random(seed)
    bad_every = int(1 / bad_ratio) if bad_ratio > 0 else 0
    with path.open("w", encoding="utf-8", errors="surrogateescape", newline="") as out:
        out.write(",".join(COLUMNS) + "\n")
        block: list[str] = []
        for row_id in range(1, rows + 1):
            if bad_every and row_id % bad_every == 0:
                _, template = BAD_KINDS[(row_id // bad_every) % len(BAD_KINDS)]
                block.append(template.format(id=row_id))
            else:
                block.append(_row(rng, row_id))
            if len(block) >= 10_000:
                out.write("".join(block))
                block.clear()
        out.write("".join(block))
    return rows
