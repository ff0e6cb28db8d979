"""`perflab stream`: a Kafka -> ClickHouse processor that loses nothing.

    _events     the workload: deterministic ~1 KB events, and malformed ones
    _decode     decode, validate, transform (pure): dicts, a pooled object, msgspec structs
    _protobuf   the events as protobuf: schema, decoder, envelopes for ClickHouse's parser
    _schema     the ClickHouse tables, and the raw paths where ClickHouse parses messages
    _source     a Kafka consumer group, or a replay file
    _processor  the loop: batch, insert, then store offsets; worker processes
    _produce    `perflab stream produce`
    _impl       the ladder of variants
    _cli        `perflab stream broker | produce | run`
    case        the ladder declared to the harness, and its ceilings
"""
