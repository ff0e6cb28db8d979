"""How the consuming loop gathers a batch and frames it, picked once (`Impl.group_commit`).

- `WholeBatches`: poll a whole batch (full, or closed on its linger), then frame it.
  With the insert of the batch before it in flight, whichever of the two is slower
  waits for the other, and at the ends of a backlog one of them idles for a whole
  batch (the first insert waits for a full batch, the last runs alone).
- `GroupCommit`: gather a batch one consume() chunk at a time, framing each as it
  comes, and close it when full, when the queue ran dry, or as soon as the insert
  before it is done: the sink never waits for a full batch, and a full batch never
  waits for the sink. The framed chunks go to the sink as they are (one append each,
  no joined copy of the batch).

Both return (batch, work), work None for an empty batch; a batch holds the messages
of one topic (a chunk of another is carried into the next batch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

from perflab.stream._decode import Message
from perflab.stream._source import CONSUME_MAX, KafkaBatch, Source

__all__ = ["Batcher", "GroupCommit", "WholeBatches", "join_batches"]

W = TypeVar("W")
W_co = TypeVar("W_co", covariant=True)

POLL_TIMEOUT_S = 0.5


class Batcher(Protocol[W_co]):
    def __call__(self, want: int,
                 sink_idle: Callable[[], bool]) -> tuple[Sequence[Message], W_co | None]: ...


class WholeBatches(Generic[W]):
    def __init__(self, source: Source, prepare: Callable[[str, Sequence[Message]], W]) -> None:
        self.source, self.prepare = source, prepare

    def __call__(self, want: int,
                 sink_idle: Callable[[], bool]) -> tuple[Sequence[Message], W | None]:
        batch = self.source.poll_batch(want, POLL_TIMEOUT_S)
        return batch, (self.prepare(self.source.batch_topic, batch) if batch else None)


class GroupCommit(Generic[W]):
    """`combine(topic, batch, works)`: one work for the chunks' works, in order."""

    def __init__(self, source: Source, prepare: Callable[[str, Sequence[Message]], W],
                 combine: Callable[[str, Sequence[Message], list[W]], W]) -> None:
        self.source, self.prepare, self.combine = source, prepare, combine
        self._carry: tuple[str, Sequence[Message], W] | None = None

    def __call__(self, want: int,
                 sink_idle: Callable[[], bool]) -> tuple[Sequence[Message], W | None]:
        chunks: list[Sequence[Message]] = []
        works: list[W] = []
        topic, count = "", 0
        if self._carry is not None:
            topic, chunk, work = self._carry
            self._carry = None
            chunks.append(chunk)
            works.append(work)
            count = len(chunk)
        while count < want:
            if chunks and (not self.source.backlog or sink_idle()):
                break
            chunk = self.source.poll_batch(min(CONSUME_MAX, want - count), POLL_TIMEOUT_S)
            if not chunk:
                break
            chunk_topic = self.source.batch_topic
            work = self.prepare(chunk_topic, chunk)
            if chunks and chunk_topic != topic:
                self._carry = (chunk_topic, chunk, work)
                break
            topic = chunk_topic
            chunks.append(chunk)
            works.append(work)
            count += len(chunk)
        if not chunks:
            return [], None
        if len(chunks) == 1:
            return chunks[0], works[0]
        batch = join_batches(chunks)
        return batch, self.combine(topic, batch, works)


def join_batches(chunks: Sequence[Sequence[Message]]) -> Sequence[Message]:
    """One batch of consecutive chunks of one topic; KafkaBatch chunks stay one."""
    kafka = [chunk for chunk in chunks if isinstance(chunk, KafkaBatch)]
    if len(kafka) < len(chunks):
        return [message for chunk in chunks for message in chunk]
    joined = KafkaBatch([m for chunk in kafka for m in chunk.messages])
    if all(chunk.last is not None for chunk in kafka):  # the framing saw each chunk's
        joined.last = {p: o for chunk in kafka for p, o in (chunk.last or {}).items()}
    return joined
