"""The forked workers' ordered hand-off: each worker emits its own results, in item order."""

import os

import pytest

from perflab.search._fork import WorkerDied, fork_ordered


def _run(tmp_path, jobs, items, compute=lambda item: item * 2):
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    count = [0]

    def emit(result, token):
        count[0] += 1
        os.write(fd, b"%d:%d:%s\n" % (os.getpid(), result, token))
        return b"%d" % (int(token) + 1)

    try:
        summaries = fork_ordered(compute, emit, items, jobs, b"0", lambda: b"%d" % count[0])
    finally:
        os.close(fd)
    lines = (tmp_path / "out").read_bytes().splitlines()
    return [line.split(b":", 1)[1] for line in lines], {line.split(b":")[0] for line in lines}, \
        count[0], summaries


@pytest.mark.parametrize("jobs", [2, 3, 7])
def test_results_are_emitted_in_item_order_by_every_worker(tmp_path, jobs):
    emitted, pids, own, summaries = _run(tmp_path, jobs, list(range(10)))
    # In order, the token passed from each emit to the next, whichever process took each
    # item (workers take items from a shared queue: a fast one may take most of them).
    assert emitted == [b"%d:%d" % (2 * i, i) for i in range(10)]
    assert 1 <= len(pids) <= min(jobs, 10)
    # The children's summaries (their own emit counts) and the parent's add up.
    assert own + sum(int(s) for s in summaries) == 10
    assert len(summaries) == min(jobs, 10) - 1


def test_a_failing_child_is_reported_and_nothing_hangs(tmp_path):
    def compute(item):
        if item == 3:
            raise ValueError("bad item")
        return item

    # The worker that took item 3 fails: a child is reported, the parent raises its own.
    with pytest.raises((WorkerDied, ValueError), match="bad item"):
        _run(tmp_path, 2, list(range(8)), compute)
    emitted = (tmp_path / "out").read_bytes().splitlines()
    assert [line.split(b":")[1] for line in emitted] == [b"0", b"1", b"2"]  # in order, up to it


@pytest.mark.parametrize("jobs", [2, 3, 4])
def test_a_closed_output_in_one_worker_stops_them_all(tmp_path, jobs):
    """The worker that emits item 5 finds its output closed (`| head`): the others must
    not wait for ever for a token that no longer goes round (they once did, with the
    parent waiting for a child that waited for the parent)."""
    import signal

    def emit(result, token):
        if result == 5:
            raise BrokenPipeError
        return token

    def timeout(*_):
        raise TimeoutError("the workers waited for each other")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(30)
    try:
        with pytest.raises(BrokenPipeError):
            fork_ordered(lambda item: item, emit, list(range(40)), jobs, b"0", lambda: b"")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
