import pytest

from perflab.errors import InputError
from perflab.gateway._codec import select_fields
from perflab.gateway._config import Route, parse_config
from perflab.gateway._core import Metrics, TTLCache, match_route

ROUTES = (Route("/api/items", "http://u/items"), Route("/api", "http://u"), Route("/", "http://r"))


@pytest.mark.parametrize(
    ("path", "prefix", "rest"),
    [
        ("/api/items/3", "/api/items", "/3"),
        ("/api/items", "/api/items", ""),
        ("/api/itemsx", "/api", "/itemsx"),  # a prefix matches whole path segments only
        ("/apix", "/", "/apix"),
    ],
)
def test_longest_prefix_on_segment_boundaries(path, prefix, rest):
    route, tail = match_route(ROUTES, path)
    assert (route.prefix, tail) == (prefix, rest)


def test_no_route():
    assert match_route(ROUTES[:2], "/other") is None


def test_select_fields():
    doc = [{"id": 1, "name": "a", "x": 0}, {"id": 2}, "not an object"]
    assert select_fields(doc, ["id", "name"]) == [{"id": 1, "name": "a"}, {"id": 2},
                                                  "not an object"]
    assert select_fields({"id": 1, "x": 2}, ["id"]) == {"id": 1}


def test_ttl_cache_expires_and_is_bounded():
    now = [0.0]
    cache = TTLCache(2, clock=lambda: now[0])
    cache.put("a", b"1", ttl=1.0)
    cache.put("b", b"2", ttl=1.0)
    assert cache.get("a") == b"1"  # a is now the most recently used
    cache.put("c", b"3", ttl=1.0)  # evicts b, the least recently used
    assert (cache.get("b"), len(cache)) == (None, 2)
    now[0] = 1.0
    assert cache.get("a") is None and cache.get("c") is None  # expired


def test_metrics_histogram_is_cumulative():
    m = Metrics()
    for seconds in (0.0001, 0.003, 0.003, 9.0):
        m.observe(200, seconds)
    text = m.render({})
    assert 'perflab_gateway_requests_total{status="200"} 4' in text
    assert 'perflab_gateway_request_seconds_bucket{le="0.0005"} 1' in text
    assert 'perflab_gateway_request_seconds_bucket{le="0.005"} 3' in text
    assert 'perflab_gateway_request_seconds_bucket{le="+Inf"} 4' in text


def test_config_sorted_longest_first_and_duplicates_refused():
    config = parse_config({"route": [{"prefix": "/a", "upstream": "http://x"},
                                     {"prefix": "/a/b/", "upstream": "http://y/"}]})
    assert [r.prefix for r in config.routes] == ["/a/b", "/a"]
    assert config.routes[0].upstream == "http://y"
    with pytest.raises(InputError, match=r"route\[1\].prefix: duplicate prefix '/a'"):
        parse_config({"route": [{"prefix": "/a", "upstream": "http://x"},
                                {"prefix": "/a", "upstream": "http://y"}]})
