import pytest

from perflab.bounded._cache import ENTRY_OVERHEAD, ByteLRU
from perflab.bounded._ingest import BadInput, StreamAggregator, aggregate_whole
from perflab.bounded._memory import parse_size
from perflab.errors import UsageError


def test_byte_lru_evicts_by_size_not_count():
    cache = ByteLRU(3 * (1000 + ENTRY_OVERHEAD + 1))
    for key in "abc":
        cache.put(key, b"x" * 1000)
    assert len(cache) == 3
    cache.get("a")  # a is recent now
    cache.put("d", b"y" * 1000)  # one more 1 KB value: the least recent (b) goes
    assert cache.get("b") is None and cache.get("a") is not None and len(cache) == 3
    cache.put("big", b"z" * 2500)  # a big value pushes out several small ones
    assert cache.bytes <= cache.max_bytes and cache.get("big") is not None
    assert len(cache) == 1 and cache.evictions == 4  # b, then a, c and d


def test_byte_lru_skips_values_larger_than_itself_and_replaces_in_place():
    cache = ByteLRU(5000)
    cache.put("k", b"1" * 100)
    cache.put("huge", b"2" * 10_000)
    assert cache.get("huge") is None and cache.get("k") == b"1" * 100
    cache.put("k", b"3" * 200)
    assert cache.bytes == ByteLRU.cost("k", b"3" * 200)
    assert cache.shrink_to(0) == ByteLRU.cost("k", b"3" * 200) and len(cache) == 0


@pytest.mark.parametrize(("text", "value"), [("256MiB", 256 * 2**20), ("1GiB", 2**30),
                                             ("500MB", 500 * 10**6), ("1048576", 2**20),
                                             ("1.5 GiB", int(1.5 * 2**30))])
def test_parse_size(text, value):
    assert parse_size(text) == value


def test_parse_size_rejects_nonsense():
    with pytest.raises(UsageError, match="invalid size '12 parsecs'"):
        parse_size("12 parsecs")


BODY = b'[{"id": 1, "value": 2.5, "tag": "a"}, {"id": 2, "value": 3, "tag": "b"}]'


def test_stream_equals_whole_body_fed_in_any_chunking():
    whole = aggregate_whole(BODY)
    for size in (1, 7, 64):
        agg = StreamAggregator()
        for i in range(0, len(BODY), size):
            agg.feed(BODY[i:i + size])
        assert agg.close() == whole
    assert whole["count"] == 2 and whole["sum"] == 5.5


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"id": 1, "value": 2.5, "tag": "a"}, {"id": 2,', "malformed JSON at the end"),
        (b'{"a": 1}', "expected a JSON array at byte 0"),
        (b'[{"id": 1, "value": "x", "tag": "a"}]', r"item 0 \(before byte 37\): expected a number"),
        (b'[{"id": "1", "value": 1, "tag": "a"}]', "expected an integer id"),
        (b'[1, {oops}]', "malformed JSON before byte 11"),
        (b'[{"id": 1, "value": 1, "tag": "' + b"t" * 70_000 + b'"}]', "larger than 65536 bytes"),
    ],
)
def test_stream_bad_input_says_where(body, message):
    agg = StreamAggregator()
    with pytest.raises(BadInput, match=message):
        for i in range(0, len(body), 4096):
            agg.feed(body[i:i + 4096])
        agg.close()


def test_whole_body_bad_input_has_line_and_column():
    with pytest.raises(BadInput, match=r"malformed JSON at byte 5 \(line 2, column 2\)"):
        aggregate_whole(b'[1,\n ]')


def test_unbounded_cache_keeps_everything_and_counts_it():
    from perflab.bounded._cache import UnboundedCache

    cache = UnboundedCache()
    for key in "abc":
        cache.put(key, b"x" * 1000)
    cache.put("a", b"y" * 10)
    assert len(cache) == 3 and cache.get("a") == b"y" * 10
    assert cache.bytes == 2 * ByteLRU.cost("b", b"x" * 1000) + ByteLRU.cost("a", b"y" * 10)
    assert cache.shrink_to(0) == 0 and len(cache) == 3  # the "before": nothing gives way
