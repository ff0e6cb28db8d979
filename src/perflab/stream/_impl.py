"""The ladder of `perflab stream run`: each variant is the same processor with options switched."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT", "IMPLS", "LADDER", "Impl"]


@dataclass(frozen=True)
class Impl:
    name: str
    description: str
    decoder: str = "structs"  # "dicts" | "pooled" | "structs" (see _decode.py)
    batch_size: int = 20_000  # 1: poll() one message and insert it alone
    gc_tuning: bool = True  # gc.freeze() after start-up, a larger gen-0 threshold
    workers: int = 2  # 0: consume in this process; N: N consumer processes in the group
    lazy_dedup: bool = True  # optimize_on_insert=0: repeats wait for merges and FINAL
    raw: bool = True  # ClickHouse parses the messages (the Python decoder is the fallback)


LADDER = (
    Impl("baseline", "poll() one message, json.loads into dicts, one INSERT per message",
         decoder="dicts", batch_size=1, gc_tuning=False, workers=0, lazy_dedup=False,
         raw=False),
    Impl("pooling", "reuse one message object (sync.Pool)", decoder="pooled", batch_size=1,
         gc_tuning=False, workers=0, lazy_dedup=False, raw=False),
    Impl("batches", "consume and INSERT 1000 messages at a time", decoder="pooled",
         batch_size=1000, gc_tuning=False, workers=0, lazy_dedup=False, raw=False),
    Impl("structs", "msgspec: decode into typed structs, encode rows as arrays, no dicts",
         batch_size=1000, gc_tuning=False, workers=0, lazy_dedup=False, raw=False),
    Impl("gc-tuning", "gc.freeze() after start-up, gen-0 threshold 50,000 (GOGC)",
         batch_size=1000, workers=0, lazy_dedup=False, raw=False),
    Impl("workers", "2 consumer processes in the group, one sink process", batch_size=1000,
         lazy_dedup=False, raw=False),
    Impl("big-batches", "20,000 messages per INSERT: fewer, larger ClickHouse parts",
         lazy_dedup=False, raw=False),
    Impl("lazy-dedup", "optimize_on_insert=0: repeats are merged away later, not per insert",
         raw=False),
    Impl("clickhouse-parse", "ClickHouse parses the raw messages; Python only frames them"),
)
IMPLS = {impl.name: impl for impl in LADDER}
DEFAULT = LADDER[-1].name
