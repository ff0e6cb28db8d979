"""GroupCommit: when a batch closes, what it holds, and the chunk of another topic it carries."""

from __future__ import annotations

from perflab.stream._batching import GroupCommit, WholeBatches, join_batches
from perflab.stream._source import CONSUME_MAX, KafkaBatch


class Scripted:
    """A source that hands out the chunks it was given: (topic, messages, queue not dry)."""

    def __init__(self, chunks):
        self.chunks = list(chunks)
        self.asked: list[int] = []
        self.backlog = False
        self.batch_topic = ""

    def poll_batch(self, size, timeout):
        self.asked.append(size)
        if not self.chunks:
            self.backlog = False
            return []
        self.batch_topic, messages, self.backlog = self.chunks.pop(0)
        assert len(messages) <= size, "a source returns no more than asked"
        return messages


def _messages(start, count, partition=0):
    return [(partition, offset, b"{}", 0) for offset in range(start, start + count)]


def _grouper(source):
    def prepare(topic, batch):
        return [(topic, len(batch))]

    def combine(topic, batch, works):
        assert sum(n for work in works for _, n in work) == len(batch)
        return [pair for work in works for pair in work]

    return GroupCommit(source, prepare, combine)


def test_a_group_closes_once_the_sink_is_idle_and_holds_every_chunk_until_then():
    source = Scripted([("t", _messages(i * 100, 100), True) for i in range(5)])
    idle = iter([False, False, True])
    batch, work = _grouper(source)(20_000, lambda: next(idle))
    assert [m[1] for m in batch] == list(range(300))  # in order, none lost
    assert work == [("t", 100)] * 3
    assert source.asked == [CONSUME_MAX] * 3


def test_a_group_closes_when_the_queue_runs_dry_or_it_is_full():
    source = Scripted([("t", _messages(0, 100), True), ("t", _messages(100, 50), False),
                       ("t", _messages(150, 100), True)])
    batch, _ = _grouper(source)(20_000, lambda: False)
    assert len(batch) == 150  # the short chunk: nothing more was waiting
    batch, _ = _grouper(source)(100, lambda: False)
    assert len(batch) == 100 and source.asked[-1] == 100  # never more than wanted


def test_a_chunk_of_another_topic_opens_the_next_group():
    source = Scripted([("a", _messages(0, 10), True), ("b", _messages(0, 20), True),
                       ("b", _messages(20, 5), False)])
    group = _grouper(source)
    batch, work = group(1000, lambda: False)
    assert (len(batch), work) == (10, [("a", 10)])
    batch, work = group(1000, lambda: False)
    assert (len(batch), work) == (25, [("b", 20), ("b", 5)])
    assert group(1000, lambda: True) == ([], None)


def test_whole_batches_poll_once():
    source = Scripted([("t", _messages(0, 30), True)])
    batch, work = WholeBatches(source, lambda topic, b: (topic, len(b)))(500, lambda: True)
    assert (len(batch), work, source.asked) == (30, ("t", 30), [500])


class _Message:
    def __init__(self, partition, offset):
        self._p, self._o = partition, offset

    def partition(self):
        return self._p

    def offset(self):
        return self._o


def test_joined_kafka_batches_keep_the_highest_offset_of_each_partition():
    first = KafkaBatch([_Message(0, 5), _Message(1, 7)])
    second = KafkaBatch([_Message(0, 6)])
    first.last, second.last = {0: 5, 1: 7}, {0: 6}
    joined = join_batches([first, second])
    assert isinstance(joined, KafkaBatch) and len(joined) == 3
    assert joined.last == {0: 6, 1: 7}
    second.last = None  # a chunk the framing did not read: the offsets are read again
    assert join_batches([first, second]).last is None
    assert join_batches([_messages(0, 2), _messages(2, 1)]) == _messages(0, 3)
