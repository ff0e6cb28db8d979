"""The private PostgreSQL cluster's owner rule: only the user that started the server stops it."""

from __future__ import annotations

import os
import shutil

import psycopg
import pytest

from perflab.services.postgres import default_datadir, private_cluster

pytestmark = pytest.mark.integration


@pytest.fixture
def throwaway():
    """A cluster name of this test's own (never `bench` or `tests`), removed afterwards."""
    name = f"tests-owner-{os.getpid()}"
    datadir = default_datadir(name)
    yield name
    shutil.rmtree(datadir, ignore_errors=True)
    datadir.parent.joinpath(f"{datadir.name}.log").unlink(missing_ok=True)


def answers(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=10) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def test_a_second_user_of_a_running_cluster_leaves_it_running(throwaway):
    with private_cluster(throwaway) as outer:
        assert outer.started
        with private_cluster(throwaway) as inner:  # found running: reused, not owned
            assert not inner.started and inner.dsn == outer.dsn
            assert answers(inner.dsn)
        assert answers(outer.dsn), "the inner user stopped the outer one's server"
        dsn = outer.dsn
    assert not answers(dsn), "the owner's exit must stop the server it started"
    assert not (default_datadir(throwaway) / "postmaster.pid").exists()
