"""What the sink costs per message when ClickHouse parses it: raw JSON or raw protobuf.

    .venv/bin/python benchmarks/stream_sink_formats.py [--messages 300000] [-n 3]

The stream case's last steps hand ClickHouse the raw messages. This measures
ClickHouse's side alone: chDB parsing the same events as JSON and as
length-delimited protobuf (`FORMAT Protobuf`) from a file, into the `events`
table the processor fills, with no envelope, no view and no Python. Per
format, alternated, median of n: rows/s and the machine's busy CPU per row
(/proc/stat). The events table uses the processor's own DDL.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from perflab.measure._collectors import machine_busy_s
from perflab.stream._events import events
from perflab.stream._protobuf import varint
from perflab.stream._schema import PROTOBUF_SCHEMA, ddl

STRUCTURE = ("id String, timestamp Int64, data Tuple(user_id UInt64, event_type String, "
             "amount Float64, country String, page String), metadata Map(String, String)")
# The columns the processor's materialized view derives from a raw message (_schema.ddl)
SELECT = ("SELECT 'events', 0, rowNumberInAllBlocks(), id, timestamp, data.user_id, "
          "data.event_type, data.amount, toInt64(data.amount * 100), data.country, data.page, "
          "metadata FROM file('{path}', '{fmt}', '{structure}')")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("-n", type=int, default=3)
    opts = parser.parse_args()
    from chdb import session

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pb = work / "events.pb"
        schema = work / "events.proto"
        schema.write_text(PROTOBUF_SCHEMA)
        pb.write_bytes(b"".join(varint(len(v)) + v
                                for _, v, _ in events(opts.messages, 0.0, "protobuf")))
        js = work / "events.json"
        js.write_bytes(b"".join(v + b"\n" for _, v, _ in events(opts.messages, 0.0, "json")))
        formats = {
            "JSONEachRow": (js, "input_format_json_ignore_unknown_keys_in_named_tuple=1"),
            # a schema file: chDB caches a schema given as a string in the working directory
            "Protobuf": (pb, f"format_schema='{schema}:Event'"),
        }
        seen: dict[str, list[tuple[float, float]]] = {name: [] for name in formats}
        for round_ in range(opts.n):
            for fmt, (path, settings) in formats.items():
                db = session.Session(str(work / f"db-{fmt}-{round_}"))
                try:
                    for statement in ddl("events"):
                        db.query(statement)
                    select = SELECT.format(path=path, fmt=fmt, structure=STRUCTURE)
                    sql = f"INSERT INTO events {select} SETTINGS {settings}, optimize_on_insert=0"
                    started, busy = time.perf_counter(), machine_busy_s()
                    db.query(sql)
                    seconds, busy = time.perf_counter() - started, machine_busy_s() - busy
                    stored = int(str(db.query("SELECT count() FROM events", "CSV")).strip())
                finally:
                    db.close()
                if stored != opts.messages:
                    raise SystemExit(f"{fmt}: {stored} rows stored of {opts.messages}")
                seen[fmt].append((opts.messages / seconds, busy / opts.messages))
        print(f"{opts.messages:,} events into the processor's events table, median of {opts.n}:")
        for fmt, runs in seen.items():
            rate = statistics.median(r for r, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            size = (js if fmt == "JSONEachRow" else pb).stat().st_size / opts.messages
            print(f"  {fmt:<12} {rate:>10,.0f} rows/s  {cpu * 1e6:5.2f} µs CPU/row  "
                  f"{size:,.0f} B/message")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
