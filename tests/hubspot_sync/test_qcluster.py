"""The sync through a real django-q2 worker process, not the in-process path."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from hubspot_sync import engine, tasks
from hubspot_sync.models import Association, SyncItem, SyncRun
from tests.hubspot_sync.test_engine import make_orders

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_SECONDS = 120


def _database_url() -> str:
    settings_dict = connection.settings_dict
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user, host = settings_dict["USER"], settings_dict["HOST"] or "127.0.0.1"
    port = settings_dict["PORT"] or 5432
    return f"postgres://{user}@{host}:{port}/{settings_dict['NAME']}"


@pytest.fixture
def qcluster(hubspot):
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "HUBSPOT_BASE_URL": hubspot.url,
        "HUBSPOT_ACCESS_TOKEN": "sandbox-token",
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    yield process
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _wait_for(run_id: int, process) -> SyncRun:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        run = SyncRun.objects.get(pk=run_id)
        if run.state in (SyncRun.State.DONE, SyncRun.State.FAILED):
            return run
        assert process.poll() is None, process.stdout.read().decode()[-3000:]
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} did not finish in {DEADLINE_SECONDS} s")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_syncs_every_item_through_a_real_worker(hubspot, qcluster):
    make_orders(count=6, lines_each=50)
    run = engine.create_run()

    tasks.enqueue("start_run", run.pk)
    run = _wait_for(run.pk, qcluster)

    assert run.state == SyncRun.State.DONE, run.error
    assert run.summary == {"verified": 306, "associated": 300}
    assert run.batches_done == run.batches_total == 1 + 3 + 1
    lines = SyncItem.objects.filter(object_type="line_items")
    assert set(lines.values_list("state", "association")) == {
        ("verified", Association.LINKED)
    }
    assert hubspot.store.count("line_items") == 300
