"""The sink's outages against its refusals (pure: a ClickHouse stand-in that raises real
error texts; the integration tests provoke the real errors in chDB)."""

from __future__ import annotations

import json

from perflab.errors import ServiceError
from perflab.stream._processor import Outage, _deliver, _Work
from perflab.stream._table import TableDecoder, TableSpec

TOO_MANY_PARTS = "Code: 252. DB::Exception: Too many parts (300). Merges are processing slower"
TYPE_ERROR = "Code: 27. DB::Exception: Cannot parse input: expected '{'"


class Sink:
    """Takes inserts until told otherwise; refuses any body holding `poison`."""

    target = "test"

    def __init__(self, poison: bytes = b"", down_after: int | None = None) -> None:
        self.poison, self.down_after = poison, down_after
        self.tables: dict[str, list[bytes]] = {}
        self.calls = 0

    def insert(self, table, body, settings=None, fmt="JSONEachRow", columns=(), checked=False):
        self.calls += 1
        if self.down_after is not None and self.calls > self.down_after:
            raise ServiceError(f"ClickHouse insert into {table}: {TOO_MANY_PARTS}")
        if self.poison and self.poison in body and not table.endswith("_dead"):
            raise ServiceError(f"ClickHouse insert into {table}: {TYPE_ERROR}")
        self.tables.setdefault(table, []).extend(body.splitlines())
        return None


def work(values: list[bytes]) -> _Work:
    spec = TableSpec("t", columns=(("id", "UInt32", ""), ("_offset", "UInt64", "")))
    out = TableDecoder(spec.target())("topic", [(0, i, v, 0) for i, v in enumerate(values)])
    return _Work(len(values), rows=out.rows, rows_count=out.rows_count, dead=out.dead,
                 dead_count=out.dead_count, settings=out.settings, topic="topic",
                 origins=out.origins)


def test_a_refusal_that_names_the_data_dead_letters_only_the_culprit():
    values = [b'{"id": %d}' % i for i in range(16)]
    values[5] = b'{"id": 5, "x": "poison"}'
    sink = Sink(poison=b"")
    batch = work(values)
    sink.poison = batch.rows.splitlines()[5]  # ClickHouse refuses this row only
    assert _deliver(sink, "t", batch) == (15, 1)  # type: ignore[arg-type]
    dead = [json.loads(line) for line in sink.tables["t_dead"]]
    assert [(d["offset"], d["reason"][:22]) for d in dead] == [(5, "refused by ClickHouse:")]
    assert len(sink.tables["t"]) == 15


def test_an_outage_is_retried_whole_and_never_makes_dead_letters():
    values = [b'{"id": %d}' % i for i in range(16)]
    for down_after in (0, 1, 3):  # down at once, or midway through a culprit search
        batch = work(values)
        sink = Sink(poison=batch.rows.splitlines()[7], down_after=down_after)
        stored = _deliver(sink, "t", batch)  # type: ignore[arg-type]
        assert isinstance(stored, Outage) and "Too many parts" in stored.reason
        assert "t_dead" not in sink.tables


def test_dead_letters_that_cannot_be_stored_are_an_outage_too():
    batch = work([b'{"id": 1}', b"not json"])
    sink = Sink(down_after=1)  # the rows go in, the dead letters do not
    assert isinstance(_deliver(sink, "t", batch), Outage)  # type: ignore[arg-type]


def test_kafka_errors_that_are_news_and_those_that_end_the_run():
    import pytest
    from confluent_kafka import KafkaError

    from perflab.stream._source import KafkaSource

    for code in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART,
                 KafkaError._MAX_POLL_EXCEEDED):  # the member rejoins at its next poll
        assert KafkaSource._skip(KafkaError(code)) is True
    with pytest.raises(ServiceError, match="Kafka:"):
        KafkaSource._skip(KafkaError(KafkaError._SSL))
