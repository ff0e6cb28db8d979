"""What the target-table path costs per message in Python, against the ladder's decoders.

    .venv/bin/python benchmarks/stream_table_decode.py [--messages 20000] [-n 5]

`perflab stream run --table T` decodes each JSON message into a Struct made
from the table's columns (`_typed.py`), and falls back to builtins checked by
each column's validator (`_types.py`) for what that does not take; then it
encodes JSONEachRow objects (`_table.TableDecoder`). This times that decoder
(`table`) and its fallback alone (`table-dicts`: what every message paid before
the Struct) on the guide's events mapped onto a table of the events' columns
(nested keys by --map, the same types), beside the ladder's `dicts` and
`structs` decoders on the same events, alternated, best of n, in µs per
message. No broker, no sink.
"""

from __future__ import annotations

import argparse
import time

from perflab.stream._decode import DECODERS
from perflab.stream._events import event_bytes
from perflab.stream._table import TableDecoder, TableSpec, _parse_json

COLUMNS = (("id", "String", ""), ("timestamp_ms", "Int64", ""), ("user_id", "UInt64", ""),
           ("event_type", "LowCardinality(String)", ""), ("amount", "Float64", ""),
           ("country", "LowCardinality(String)", ""), ("page", "String", ""),
           ("metadata", "Map(String, String)", ""), ("_topic", "LowCardinality(String)", ""),
           ("_partition", "UInt32", ""), ("_offset", "UInt64", ""))
MAPPING = (("timestamp_ms", ("timestamp",)), ("user_id", ("data", "user_id")),
           ("event_type", ("data", "event_type")), ("amount", ("data", "amount")),
           ("country", ("data", "country")), ("page", ("data", "page")))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("-n", type=int, default=5)
    opts = parser.parse_args()
    batch = [(i % 4, i // 4, event_bytes(i)[0], 0) for i in range(opts.messages)]
    target = TableSpec("t", MAPPING, columns=COLUMNS).target()
    decoders = {"table": TableDecoder(target),
                "table-dicts": TableDecoder(target, _parse_json()),  # a parse given: no Struct
                "dicts": DECODERS["dicts"](), "structs": DECODERS["structs"]()}
    best = dict.fromkeys(decoders, float("inf"))
    for _ in range(opts.n):
        for name, decode in decoders.items():
            started = time.perf_counter()
            out = decode("events", batch)
            best[name] = min(best[name], time.perf_counter() - started)
            assert out.rows_count == len(batch), (name, out.dead[:300])
    for name, seconds in best.items():
        print(f"{name:11} {seconds / len(batch) * 1e6:6.2f} µs/msg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
