"""The stream case's quixstreams reference, written as quixstreams' docs show.

An Application on the same topic, JSON deserialization, the same transform and
validation as perflab's decoders (five keys of `data`, `amount_cents` derived,
types and ranges checked; a bad event goes to `events_dead`), and a
BatchingSink that inserts each batch into the same chDB table.

    app.py BROKERS TOPIC GROUP CHDB_DIR COUNT DDL_JSON [KEY=VALUE...]  ->  one JSON line
"""

from __future__ import annotations

import json
import sys
import time

from chdb import session
from quixstreams import Application
from quixstreams.sinks import BatchingSink, SinkBatch

UINT64_MAX, INT64_MIN, INT64_MAX = 2**64 - 1, -(2**63), 2**63 - 1
FIELDS = (("user_id", int), ("event_type", str), ("amount", float), ("country", str),
          ("page", str))
first_at: list[float] = []
last_at = [0.0]
counts = {"inserted": 0, "dead": 0}


def transform(event: object, key: object, timestamp: int, headers: object) -> dict:
    if not first_at:
        first_at.append(time.monotonic())
    try:
        if type(event) is not dict:
            raise ValueError(f"not an object: {type(event).__name__}")
        data, metadata = event.get("data"), event.get("metadata")
        if type(event.get("id")) is not str or type(event.get("timestamp")) is not int:
            raise ValueError("id or timestamp missing or mistyped")
        if type(data) is not dict or type(metadata) is not dict:
            raise ValueError("data or metadata missing or mistyped")
        for name, kind in FIELDS:
            value = data.get(name)
            if not (type(value) in (int, float) if kind is float else type(value) is kind):
                raise ValueError(f"data.{name}: expected {kind.__name__}")
        if not 0 <= data["user_id"] <= UINT64_MAX or not (
                INT64_MIN <= event["timestamp"] <= INT64_MAX):
            raise ValueError("out of range")
        if any(type(v) is not str for v in metadata.values()):
            raise ValueError("metadata: expected str values")
    except ValueError as exc:
        return {"dead": True, "reason": str(exc), "raw": json.dumps(event)[:2048]}
    return {"id": event["id"], "timestamp_ms": event["timestamp"], "user_id": data["user_id"],
            "event_type": data["event_type"], "amount": data["amount"],
            "amount_cents": int(data["amount"] * 100), "country": data["country"],
            "page": data["page"], "metadata": metadata}


class ChdbSink(BatchingSink):
    def __init__(self, path: str, topic: str) -> None:
        super().__init__()
        self._path, self._topic = path, topic

    def setup(self) -> None:
        self._session = session.Session(self._path)

    def write(self, batch: SinkBatch) -> None:
        rows, dead = [], []
        for item in batch:
            value = {"topic": self._topic, "partition": batch.partition, "offset": item.offset,
                     **item.value}
            if value.pop("dead", False):
                dead.append(value)
            else:
                rows.append(value)
        for table, lines in (("events", rows), ("events_dead", dead)):
            if lines:
                with self._session.send_insert(f"INSERT INTO {table}", "JSONEachRow") as ins:
                    ins.append("".join(json.dumps(r) + "\n" for r in lines).encode())
                    ins.finish()
        counts["inserted"] += len(rows)
        counts["dead"] += len(dead)
        last_at[0] = time.monotonic()


def main() -> None:
    brokers, topic, group, path, count, ddl = sys.argv[1:7]
    # the librdkafka settings perflab's processor is given in the case (FAST_JOIN)
    extra = {key: int(value) if value.isdigit() else value
             for key, value in (item.split("=", 1) for item in sys.argv[7:])}
    setup = session.Session(path)
    for statement in json.loads(ddl):
        setup.query(statement)
    setup.close()
    app = Application(broker_address=brokers, consumer_group=group,
                      auto_offset_reset="earliest", loglevel="WARNING",
                      auto_create_topics=False, use_changelog_topics=False,
                      consumer_extra_config=extra)
    sdf = app.dataframe(app.topic(topic, value_deserializer="json"))
    sdf = sdf.apply(transform, metadata=True)
    sdf.sink(ChdbSink(path, topic))
    started = time.monotonic()
    app.run(count=int(count), collect=False)
    seconds = last_at[0] - first_at[0] if first_at else 0.0
    consumed = counts["inserted"] + counts["dead"]
    print(json.dumps({**counts, "consumed": consumed, "seconds": seconds,
                      "startup_s": (first_at[0] if first_at else started) - started,
                      "msgs_per_s": consumed / seconds if seconds else 0.0}))


if __name__ == "__main__":
    main()
