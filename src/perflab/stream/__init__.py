"""`perflab stream`: a Kafka -> ClickHouse processor that loses nothing.

    _types      ClickHouse type strings as validators (pure): every value checked as stored
    _table      the target table decides: its columns, the mapping, TableDecoder (pure)
    _typed      the table's columns as one msgspec Struct: TableDecoder's fast path for JSON
    _userproto  protobuf of the user's schema (a descriptor set), decoded into dicts
    _events     the benchmark's workload: deterministic ~1 KB events, and malformed ones
    _decode     the ladder's decoders of the events (pure): dicts, a pooled object, msgspec
    _protobuf   the events as protobuf: schema, decoder, envelopes for ClickHouse's parser
    _schema     the events' tables, dead-letter tables, and the raw paths
    _source     a Kafka consumer group (topics or a regex), or a replay file
    _processor  the loop: batch, insert (outages retried), then store offsets; workers
    _metrics    Prometheus /metrics (--metrics-port)
    _produce    `perflab stream produce`
    _impl       the ladder of variants
    _quix       the quixstreams reference's own environment
    _cli        `perflab stream broker | produce | run`
    case        the ladder declared to the harness, and its ceilings
"""
