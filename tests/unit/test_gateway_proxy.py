"""The reverse proxy's pure core: targets, headers both ways, request ids, cache rules."""

from __future__ import annotations

import itertools

import pytest

from perflab.gateway._codec import CODECS
from perflab.gateway._impl import CHOICES, LADDER, Impl
from perflab.gateway._proxy import (
    BadRequest,
    Forwarding,
    cache_ttl,
    check_head,
    forwarded_head,
    parse_target,
    remove_dot_segments,
    response_fields,
    valid_request_id,
)


@pytest.mark.parametrize(
    ("path", "expected"),
    [  # RFC 3986 5.4's examples, as absolute paths
        ("/a/b/c/./../../g", "/a/g"), ("/a/b/../c/./d", "/a/c/d"), ("/..", "/"),
        ("/../../x", "/x"), ("/a/b/..", "/a/"), ("/a/.", "/a/"), ("/a//b", "/a//b"),
        ("/a/b/", "/a/b/"), ("/", "/"), ("/a/..b/c", "/a/..b/c"),
    ],
)
def test_remove_dot_segments(path, expected):
    assert remove_dot_segments(path) == expected


@pytest.mark.parametrize(
    ("target", "path", "query", "authority"),
    [
        (b"/api/items?b=2&a=1", "/api/items", "b=2&a=1", None),
        (b"/api/../secret", "/secret", "", None),
        (b"/api/%2e%2e/secret", "/secret", "", None),
        (b"/api/%2E%2e/%2e/x?q=/../", "/x", "q=/../", None),  # the query is not touched
        (b"/api/a%20b", "/api/a%20b", "", None),  # other escapes pass as sent
        (b"http://example.com/api/x?y", "/api/x", "y", b"example.com"),
        (b"HTTPS://example.com:8443", "/", "", b"example.com:8443"),
    ],
)
def test_targets_normalized(target, path, query, authority):
    parsed = parse_target(target)
    assert (parsed.path, parsed.query, parsed.authority) == (path, query, authority)


@pytest.mark.parametrize("target", [b"/api/..%2fsecret", b"/api/%2F", b"/a%5c..%5cb",
                                    b"/a\\..\\b", b"/a%00", b"*", b"ftp://x/", b"api",
                                    b"http://user@host/", b"/a#frag"])
def test_targets_refused(target):
    with pytest.raises(BadRequest):
        parse_target(target)


def test_check_head():
    ok = [(b"host", b"x"), (b"transfer-encoding", b"chunked"), (b"cookie", b"a"),
          (b"cookie", b"b")]
    check_head(ok, dict(ok), http10=False)
    for headers, http10 in (([], False), ([(b"host", b"x"), (b"host", b"y")], False),
                            ([(b"host", b"x"), (b"transfer-encoding", b"gzip, chunked")], False),
                            ([(b"transfer-encoding", b"chunked")], True)):
        with pytest.raises(BadRequest):
            check_head(headers, dict(headers), http10)
    check_head([], {}, http10=True)  # HTTP/1.0 needs no Host


HEAD = [(b"host", b"gw.example"), (b"accept", b"*/*"), (b"cookie", b"a=1"),
        (b"connection", b"keep-alive, X-Secret"), (b"x-secret", b"s"), (b"cookie", b"b=2"),
        (b"te", b"trailers"), (b"keep-alive", b"300"), (b"proxy-connection", b"x"),
        (b"upgrade", b"h2c"), (b"trailer", b"x"), (b"x-forwarded-for", b"10.0.0.1"),
        (b"x-request-id", b"client"), (b"content-length", b"0"), (b"accept-encoding", b"gzip")]


def forward(rules: Forwarding, method: bytes = b"GET") -> list[bytes]:
    raw = forwarded_head(method, b"/v1/x?q=1", HEAD, rules, client=b"127.0.0.9",
                         proto=b"http", host=b"gw.example", request_id=b"rid",
                         body_length=0, keep_alive=True)
    assert raw.endswith(b"\r\n\r\n")
    return raw[:-4].split(b"\r\n")


def test_forwarded_head_keeps_end_to_end_fields_in_order():
    lines = forward(Forwarding(host=b"up:9"))
    assert lines == [b"GET /v1/x?q=1 HTTP/1.1", b"host: up:9", b"accept: */*",
                     b"cookie: a=1", b"cookie: b=2", b"accept-encoding: gzip",
                     b"x-forwarded-for: 10.0.0.1, 127.0.0.9", b"x-forwarded-proto: http",
                     b"x-forwarded-host: gw.example", b"x-request-id: rid"]


def test_forwarded_head_rules():
    assert b"host: gw.example" in forward(Forwarding(host=b"up:9", preserve_host=True))
    allowed = forward(Forwarding(host=b"up:9", allow=frozenset({b"accept"})))
    assert [line for line in allowed if line.startswith((b"accept", b"cookie"))] == [
        b"accept: */*"]
    dropped = forward(Forwarding(host=b"up:9", drop=frozenset({b"cookie"}), identity=True))
    assert not [line for line in dropped if line.startswith((b"cookie", b"accept-encoding"))]
    assert b"content-length: 0" in forward(Forwarding(host=b"up:9"), method=b"POST")


def test_response_fields_drop_hop_by_hop_and_keep_repeats():
    fields = [(b"content-type", b"a/b"), (b"set-cookie", b"a=1"), (b"connection", b"x-hop"),
              (b"x-hop", b"1"), (b"transfer-encoding", b"chunked"), (b"set-cookie", b"b=2"),
              (b"content-length", b"9"), (b"keep-alive", b"5"), (b"location", b"/y")]
    assert response_fields(fields) == [(b"content-type", b"a/b"), (b"set-cookie", b"a=1"),
                                       (b"set-cookie", b"b=2"), (b"location", b"/y")]


@pytest.mark.parametrize(
    ("fields", "ttl"),
    [
        ([], 5.0), ([(b"cache-control", b"public, max-age=2")], 2.0),
        ([(b"cache-control", b"max-age=60")], 5.0),  # the route's TTL is shorter: it wins
        ([(b"cache-control", b"s-maxage=1, max-age=60")], 1.0),  # s-maxage: shared caches'
        ([(b"cache-control", b"private")], 0.0), ([(b"cache-control", b"no-store")], 0.0),
        ([(b"Cache-Control".lower(), b"No-Cache")], 0.0), ([(b"set-cookie", b"a=1")], 0.0),
        ([(b"vary", b"*")], 0.0), ([(b"cache-control", b"max-age=0")], 0.0),
    ],
)
def test_cache_ttl(fields, ttl):
    assert cache_ttl(fields, 5.0) == ttl


@pytest.mark.parametrize(("value", "ok"), [(b"abc-123", True), (b"a" * 128, True),
                                           (b"a" * 129, False), (b"", False),
                                           (b"a b", False), (b"a\x00", False), (b"\xff", False)])
def test_request_id_bound(value, ok):
    assert valid_request_id(value) is ok


@pytest.mark.parametrize("codec", list(CODECS))
def test_codecs_select_the_same_fields(codec):
    pick = CODECS[codec]().picker(["id", "x y"])
    import json

    assert json.loads(pick(b'[{"id": 1, "x y": 2, "z": 3}, {"z": 1}, 7]')) == [
        {"id": 1, "x y": 2}, {}, 7]
    assert json.loads(pick(b'{"z": 1, "id": 2}')) == {"id": 2}
    with pytest.raises(ValueError):
        pick(b'{"not json')


def test_every_step_changes_one_choice_and_impossible_ones_are_refused():
    for before, after in itertools.pairwise(LADDER):
        changed = [c for c in CHOICES if getattr(before, c) != getattr(after, c)]
        assert len(changed) == 1, (after.name, changed)
    with pytest.raises(ValueError, match="batched writes need the own server core"):
        Impl("x", "", writes="batched")
    with pytest.raises(ValueError, match="codec"):
        Impl("x", "", codec="yaml")
