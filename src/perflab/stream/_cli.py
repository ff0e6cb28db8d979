"""`perflab stream broker`, `perflab stream produce` and `perflab stream run`."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from perflab.stream._table import TableSpec

__all__ = ["configure", "main"]


def _ratio(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError("expected a ratio in [0, 1)")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    broker = sub.add_parser("broker", help="run the embedded Kafka broker in the foreground")
    broker.add_argument("--port", type=int, help="listen port (default: a free one)")

    produce = sub.add_parser("produce", help="send the deterministic events to a topic")
    produce.add_argument("--topic", help="the topic (required unless --replay)")
    produce.add_argument("--brokers", help="host:port,... (required unless --replay)")
    produce.add_argument("--count", type=int, required=True)
    produce.add_argument("--partitions", type=int, default=4)
    produce.add_argument("--bad-ratio", type=_ratio, default=0.0,
                         help="share of malformed messages, each kind in turn (default: 0)")
    produce.add_argument("--format", choices=("json", "protobuf"), default="json",
                         help="message encoding (default: json)")
    produce.add_argument("--replay", type=Path, metavar="FILE",
                         help="write the messages to a replay file instead of a broker")

    run = sub.add_parser("run", help="consume, transform and insert into ClickHouse")
    topics = run.add_mutually_exclusive_group(required=True)
    topics.add_argument("--topic", help="a topic, or several: a,b,c")
    topics.add_argument("--topic-regex", metavar="REGEX",
                        help="every topic the regular expression matches, e.g. '^orders\\.'")
    run.add_argument("--group", default="perflab-stream")
    run.add_argument("--brokers", help="host:port,... (default: an embedded broker)")
    run.add_argument("--source", metavar="replay:FILE",
                     help="read a replay file instead of a broker")
    run.add_argument("--clickhouse", metavar="DSN",
                     help="chdb:///path or http://host:8123 (default: chDB in perflab's cache)")
    run.add_argument("--table", default="events", metavar="[DB.]TABLE",
                     help="the target table: its columns decide the rows (default: events)")
    run.add_argument("--create-table", action="store_true",
                     help="create the guide's events table and load its events (the benchmark)")
    run.add_argument("--map", action="append", default=[], metavar="COLUMN=KEY.KEY",
                     help="fill COLUMN from a nested key (repeatable; default: the key named "
                          "as the column)")
    run.add_argument("--mapping", type=Path, metavar="FILE.toml",
                     help='a TOML file of column = "key.key" lines')
    run.add_argument("--strict", action="store_true",
                     help="a message with a top-level key no column takes is a dead letter")
    run.add_argument("--source-columns", default="_topic,_partition,_offset",
                     metavar="TOPIC,PARTITION,OFFSET",
                     help="the columns that say where a row came from, filled when the table "
                          "has them (default: _topic,_partition,_offset)")
    run.add_argument("--max-sink-retry", type=float, default=300.0, metavar="S",
                     help="retry a ClickHouse that is down this long, then exit non-zero with "
                          "offsets committed up to the last accepted batch (default: 300)")
    run.add_argument("--metrics-port", type=int, metavar="PORT",
                     help="serve Prometheus metrics at http://127.0.0.1:PORT/metrics")
    run.add_argument("--dead-letter-topic", metavar="TOPIC",
                     help="produce dead letters (JSON: topic, partition, offset, reason, raw) "
                          "to TOPIC instead of inserting them into TABLE_dead")
    run.add_argument("-s", "--insert-setting", action="append", default=[],
                     metavar="KEY=VALUE", help="a ClickHouse setting for every insert "
                     "(repeatable), e.g. async_insert=1")
    run.add_argument("--format", choices=("json", "protobuf"), default="json",
                     help="message encoding (default: json)")
    proto = run.add_mutually_exclusive_group()
    proto.add_argument("--proto", type=Path, metavar="FILE.proto",
                       help="the messages' protobuf schema (compiled with grpcio-tools' protoc)")
    proto.add_argument("--descriptor-set", type=Path, metavar="FILE",
                       help="the schema as protoc --include_imports --descriptor_set_out=FILE")
    run.add_argument("--message", metavar="NAME", help="the protobuf message, e.g. shop.Order")
    run.add_argument("--workers", type=int, help="consumer processes (default: the variant's)")
    run.add_argument("--batch-size", type=int,
                     help="messages per insert (default: the variant's; 20,000)")
    run.add_argument("--until-idle", type=float, metavar="S",
                     help="stop after S seconds without a message (default: run until stopped)")
    run.add_argument("--max-messages", type=int, help="stop after this many messages")
    run.add_argument("-X", "--kafka-option", action="append", default=[], metavar="KEY=VALUE",
                     help="a librdkafka consumer setting, as kcat's -X (repeatable); e.g. "
                          "max.poll.interval.ms=2000 joins a group in ~1 s instead of ~3 s")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.add_argument("--count-table", action="store_true",
                     help="at the end, count the table's rows (FINAL) into the summary's "
                          "table_rows")
    run.add_argument("--impl", default=None, help=argparse.SUPPRESS)  # a ladder step


@contextlib.contextmanager
def _brokers(given: str | None) -> Iterator[str]:
    if given:
        yield given
        return
    from perflab.services.kafka import local_broker

    with local_broker() as broker:
        print(f"Kafka (embedded Tansu broker): {broker.bootstrap}", file=sys.stderr)
        yield broker.bootstrap


def _broker(args: argparse.Namespace) -> int:
    import signal
    import threading

    from perflab.services.kafka import local_broker

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with local_broker(args.port) as broker:
        print(broker.bootstrap, flush=True)
        stop.wait()
    return 0


def _produce(args: argparse.Namespace) -> int:
    from perflab.errors import UsageError
    from perflab.stream._produce import produce, produce_replay

    if args.count < 0 or args.partitions < 1:
        raise UsageError("--count must be >= 0 and --partitions >= 1")
    if args.replay:
        written = produce_replay(args.replay, args.count, args.partitions, args.bad_ratio,
                                 args.format)
        print(f"{args.replay}: {written:,} messages", file=sys.stderr)
        return 0
    if not args.topic:
        raise UsageError("produce needs --topic (or --replay FILE)")
    if not args.brokers:
        raise UsageError("produce needs --brokers (an embedded broker would vanish on exit)",
                         hint="start one with `perflab stream broker`, or use --replay FILE")
    delivered = produce(args.brokers, args.topic, args.count, args.partitions, args.bad_ratio,
                        fmt=args.format)
    print(f"{args.topic}: {delivered:,} messages delivered", file=sys.stderr)
    return 0


def _run(args: argparse.Namespace) -> int:
    from perflab.errors import UsageError
    from perflab.services.clickhouse import check_target
    from perflab.stream._impl import DEFAULT, IMPLS
    from perflab.stream._processor import Options, run

    check_target(args.clickhouse)
    impl = IMPLS.get(args.impl or DEFAULT)
    if impl is None:
        raise UsageError(f"unknown --impl {args.impl!r}", hint=f"one of: {', '.join(IMPLS)}")
    spec = None if args.create_table else _table_spec(args)
    if args.format == "protobuf" and spec is None:
        # The raw steps hand the messages to ClickHouse's protobuf parser instead (_schema.py)
        impl = dataclasses.replace(impl, decoder="protobuf")
    if args.max_sink_retry < 0:
        raise UsageError("--max-sink-retry must be >= 0")
    replay = None
    topic = args.topic or args.topic_regex
    if args.source:
        if args.topic_regex or "," in topic:
            raise UsageError("a replay file is one topic: give --topic NAME")
        if not args.source.startswith("replay:"):
            raise UsageError(f"--source {args.source!r}: expected replay:FILE")
        replay = Path(args.source.removeprefix("replay:"))
    kafka = []
    for item in args.kafka_option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"-X {item!r}: expected KEY=VALUE")
        kafka.append((key.strip(), value.strip()))
    insert_settings = []
    for item in args.insert_setting:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().replace("_", "").isalnum():
            raise UsageError(f"--insert-setting {item!r}: expected KEY=VALUE")
        insert_settings.append((key.strip(), value.strip()))
    for name in ("workers", "batch_size", "max_messages"):
        value = getattr(args, name)
        if value is not None and value < (0 if name == "workers" else 1):
            raise UsageError(f"--{name.replace('_', '-')} must be positive")
    with contextlib.ExitStack() as stack:
        brokers = None if replay else stack.enter_context(_brokers(args.brokers))
        summary = run(Options(
            topic=topic, group=args.group, table=args.table, impl=impl, brokers=brokers,
            replay=replay, clickhouse=args.clickhouse, batch_size=args.batch_size,
            workers=args.workers, until_idle=args.until_idle, max_messages=args.max_messages,
            progress=sys.stderr, kafka=tuple(kafka), spec=spec,
            max_sink_retry=args.max_sink_retry, topic_regex=bool(args.topic_regex),
            insert_settings=tuple(insert_settings), dead_letter_topic=args.dead_letter_topic,
            metrics_port=args.metrics_port, count_table=args.count_table,
        ))
    if args.json:
        print(json.dumps(summary.as_json()))
    else:
        s = summary.as_json()
        print(f"{s['consumed']:,} messages = {s['inserted']:,} inserted + {s['dead']:,} dead "
              f"letters, in {s['seconds']:.2f} s ({s['msgs_per_s']:,.0f} msg/s), "
              f"lag {s['lag']:,}, {s['sink_retries']:,} sink retries")
    return 0


def _table_spec(args: argparse.Namespace) -> TableSpec:
    from perflab.errors import UsageError
    from perflab.stream._table import TableSpec, parse_mapping, read_mapping

    mapping = read_mapping(args.mapping) if args.mapping else {}
    mapping.update(parse_mapping(args.map))  # --map wins over the file
    source = tuple(name.strip() for name in args.source_columns.split(","))
    if len(source) != 3 or not all(source):
        raise UsageError(f"--source-columns {args.source_columns!r}: "
                         "expected TOPIC,PARTITION,OFFSET")
    proto = None
    if args.format == "protobuf":
        from perflab.stream._userproto import compile_proto, read_descriptor_set

        if not args.message or not (args.proto or args.descriptor_set):
            raise UsageError("--format protobuf into a table needs --message NAME and "
                             "--proto FILE.proto or --descriptor-set FILE",
                             hint="--create-table loads the guide's events with their own schema")
        schema = (compile_proto(args.proto) if args.proto
                  else read_descriptor_set(args.descriptor_set))
        proto = (schema, args.message)
    elif args.proto or args.descriptor_set or args.message:
        raise UsageError("--proto, --descriptor-set and --message go with --format protobuf")
    return TableSpec(args.table, tuple(mapping.items()), source, args.strict, proto=proto)


def main(args: argparse.Namespace) -> int:
    if args.action == "broker":
        return _broker(args)
    if args.action == "produce":
        return _produce(args)
    return _run(args)
