"""Real django-q2 workers (``manage.py qcluster``) for tests that need them."""

import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """The test database, as a worker in another process reaches it."""
    database = connection.settings_dict
    if database["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{database['NAME']}"
    user = quote(database["USER"] or "", safe="")
    if database["PASSWORD"]:
        user += ":" + quote(database["PASSWORD"], safe="")
    host = database["HOST"] or "127.0.0.1"
    port = database["PORT"] or 5432
    return f"postgres://{user}@{host}:{port}/{database['NAME']}"


def start_qcluster(log: Path, hubspot_url: str, **env: str) -> subprocess.Popen:
    """A qcluster on the test database, in its own process group.

    Its output goes to ``log``: a pipe nobody reads would stop it once full.
    """
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "TALLY_REDIS_PREFIX": settings.TALLY_REDIS_PREFIX,
        "HUBSPOT_BASE_URL": hubspot_url,
        "HUBSPOT_ACCESS_TOKEN": "sandbox-token",
        **env,
    }
    with open(log, "ab") as output:
        return subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_qcluster(process: subprocess.Popen) -> None:
    """Stop it as Ctrl-C would; kill what is left of it after 20 s.

    SIGINT to the whole group, as `make demo` does: django-q's SIGTERM
    handling, sent to the group, waits for workers that are already gone.
    """
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    kill_qcluster(process)


def kill_qcluster(process: subprocess.Popen) -> None:
    """SIGKILL to the cluster and every worker it started, as a crash would."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the whole group has exited already
    process.wait()


def tail(log: Path, size: int = 3000) -> str:
    return log.read_text(errors="replace")[-size:] if log.exists() else ""
