"""What the benchmarks share: a fresh Tally, a sandbox, workers, and the report.

Each benchmark is one process with its own temporary ``TALLY_VAR_DIR`` (a
fresh SQLite database), its own sandbox on a free loopback port, and its own
workers; everything it starts runs in a process group of its own and is
stopped when the benchmark ends, however it ends.
"""

import io
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(ROOT / "manage.py")]
TOKEN = "sandbox-token"
# Ports other things on this machine use (the demo, its sandbox, a mail catcher).
RESERVED_PORTS = {8000, 8025, 8031}
LISTENING_RE = re.compile(r"listening on (http://127\.0\.0\.1:(\d+))")
STOP_GRACE = 20  # seconds for a worker to finish the task in hand
LOAD_AT_START = None


class BenchError(Exception):
    pass


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """End on SIGTERM as on Ctrl-C, through the code that stops the children."""
    signal.signal(signal.SIGTERM, _interrupt)


def fresh_tally(name: str) -> Path:
    """Point Django at a new temporary var dir, set it up and migrate.

    Must run before anything imports Tally's models.
    """
    global LOAD_AT_START
    LOAD_AT_START = os.getloadavg()[0]
    stop_on_sigterm()
    var = Path(tempfile.mkdtemp(prefix=f"tally-bench-{name}-"))
    os.environ["TALLY_VAR_DIR"] = str(var)
    os.environ["DJANGO_SETTINGS_MODULE"] = "reconcile.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return var


def import_orders(path: Path) -> float:
    """Import a file with ``import_orders``; return the seconds it took."""
    from django.core.management import call_command

    started = time.monotonic()
    call_command(
        "import_orders", str(path), format="online-retail", stdout=io.StringIO()
    )
    return time.monotonic() - started


class Children:
    """Processes started in their own groups, stopped in reverse order."""

    def __init__(self, var: Path) -> None:
        self.var = var
        self.started: list[tuple[str, subprocess.Popen]] = []
        self.stop_signals: dict[int, signal.Signals] = {}

    def __enter__(self) -> "Children":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop_all()

    def spawn(self, name: str, argv: list[str], env: dict | None = None, stop=None):
        """Start a child; ``stop`` is the signal that ends it (SIGTERM by default)."""
        log = (self.var / f"{name}.log").open("ab")
        child = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.started.append((name, child))
        self.stop_signals[child.pid] = stop or signal.SIGTERM
        return child

    def named(self, name: str) -> subprocess.Popen:
        return next(child for label, child in self.started if label == name)

    def stop(self, child: subprocess.Popen) -> None:
        if child.poll() is None:
            _signal_group(child, self.stop_signals.get(child.pid, signal.SIGTERM))
            try:
                child.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(child, signal.SIGKILL)  # whatever of the group is left
        child.wait()

    def stop_all(self) -> None:
        # A second Ctrl-C must not cut the stopping short and orphan a child.
        previous = {
            signum: signal.signal(signum, signal.SIG_IGN)
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            while self.started:
                _, child = self.started.pop()
                self.stop(child)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.var / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(child.pid, signum)
    except ProcessLookupError:
        pass


def start_sandbox(children: Children, name: str, rate_limit: int) -> str:
    """Start ``manage.py hubspot_sandbox`` on a free port; return its URL.

    Port 0 lets the system pick a free port; the sandbox prints which.
    """
    db = children.var / f"{name}.sqlite3"
    argv = [*MANAGE, "hubspot_sandbox", "--port", "0", "--db", str(db)]
    child = children.spawn(name, [*argv, "--rate-limit", str(rate_limit)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = LISTENING_RE.search(children.log_tail(name))
        if match and int(match[2]) in RESERVED_PORTS:
            children.stop(child)
            return start_sandbox(children, name, rate_limit)
        if match:
            return match[1]
        if child.poll() is not None:
            break
        time.sleep(0.1)
    raise BenchError(f"The sandbox did not start:\n{children.log_tail(name)}")


def start_workers(children: Children, url: str, workers: int, env=None):
    """Start one ``qcluster`` with ``workers`` workers; return once it takes tasks."""
    from django_q.tasks import async_task, result

    worker_env = {
        "HUBSPOT_BASE_URL": url,
        "HUBSPOT_ACCESS_TOKEN": TOKEN,
        "TALLY_Q_WORKERS": str(workers),
        **(env or {}),
    }
    # SIGINT: django-q2 finishes the task in hand and exits within a second;
    # after SIGTERM it had not exited 30 s later here (see the demo command).
    argv = [*MANAGE, "qcluster"]
    cluster = children.spawn("qcluster", argv, worker_env, stop=signal.SIGINT)
    # A task that does nothing, so that the measured run does not include the
    # cluster's start-up.
    task_id = async_task("time.time")
    if result(task_id, wait=60_000) is None:
        raise BenchError(f"qcluster took no task:\n{children.log_tail('qcluster')}")
    return cluster


def run_on_workers(cluster: subprocess.Popen, children: Children, deadline: float):
    """Queue a full sync for the running workers; return (run, seconds to finish)."""
    from hubspot_sync import engine, tasks
    from hubspot_sync.models import SyncRun

    run = engine.create_run(trigger="bench")
    queued = time.time()
    tasks.enqueue("start_run", run.pk)
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        run.refresh_from_db()
        if run.state in (SyncRun.State.DONE, SyncRun.State.FAILED):
            return run, run.finished.timestamp() - queued
        if cluster.poll() is not None:
            break
        time.sleep(0.1)
    raise BenchError(
        f"Run {run.pk} did not finish ({run.state}, {run.phase}):\n"
        f"{children.log_tail('qcluster')}"
    )


def _group_members(leader: subprocess.Popen):
    """(stat fields, /proc dir) of each live process in the leader's group."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended while we looked
        if int(fields[2]) == leader.pid:  # the process group id
            yield fields, stat.parent


def group_peak_rss_mb(leader: subprocess.Popen) -> float:
    """The largest VmHWM (peak resident memory) among a process group's members.

    django-q2 replaces a worker after 500 tasks; a replaced one is not counted.
    """
    peak = 0
    for _, folder in _group_members(leader):
        try:
            peak = max(peak, _vm_hwm_kb(folder / "status"))
        except OSError:
            continue
    return peak / 1024


def group_cpu_seconds(leader: subprocess.Popen) -> float:
    """CPU time used so far by a process group, children it reaped included."""
    ticks = 0
    for fields, _ in _group_members(leader):
        ticks += sum(int(value) for value in fields[11:15])  # utime .. cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _vm_hwm_kb(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def machine() -> dict:
    cpu = _first_field("/proc/cpuinfo", "model name")
    memory_kb = int(_first_field("/proc/meminfo", "MemTotal").split()[0])
    import django

    return {
        "nproc": len(os.sched_getaffinity(0)),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "django": django.get_version(),
        # Other work on the machine slows every figure here; 2 cores are
        # busy at a load of 2.
        "load_average_1min_at_start": LOAD_AT_START,
        "load_average_1min_at_end": os.getloadavg()[0],
    }


def _first_field(path: str, name: str) -> str:
    for line in Path(path).read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return "unknown"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(var: Path, name: str, rows: list[tuple], figures: dict) -> None:
    """Print the figures as a table and write them, with the machine, as JSON."""
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    print(f"\n== {name} ==")
    for row in rows:
        cells = (
            str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)
        )
        print("  ".join(cells))
    path = var / f"{name}.json"
    figures = {"name": name, "machine": machine(), "table": rows, **figures}
    path.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    print(f"figures: {path}")


def drop_bulky_files(var: Path) -> None:
    """Remove the databases and order files (hundreds of MB); keep logs and JSON.

    ``BENCH_KEEP=1`` keeps everything, to look into a run afterwards.
    """
    if os.environ.get("BENCH_KEEP"):
        return
    for pattern in ("*.sqlite3*", "*.csv", "payload.json"):
        for path in var.glob(pattern):
            path.unlink()
    shutil.rmtree(var / "staticfiles", ignore_errors=True)


def accounted(run) -> dict:
    """What Tally says it sent, and whether every item ended verified and linked."""
    from django.db.models import Count

    from hubspot_sync.models import ItemState, ObjectType, SyncItem

    sent = SyncItem.objects.exclude(state=ItemState.EXCLUDED)
    lines = sent.filter(object_type=ObjectType.LINE_ITEM)
    states = dict(sent.values_list("state").annotate(n=Count("id")).order_by())
    links = dict(lines.values_list("association").annotate(n=Count("id")).order_by())
    line_count, total = lines.count(), sent.count()
    return {
        "items_total": run.items_total,
        "line_items_sent": line_count,
        "deals_sent": total - line_count,
        "states": states,
        "associations": links,
        "run_summary": run.summary,
        "all_verified": states == {ItemState.VERIFIED: total}
        and links == {"linked": line_count},
    }


def sandbox_counts(db: Path) -> dict:
    """What the sandbox holds after a run: records, and line items linked to a deal."""
    from hubspot_sync.sandbox.store import Store

    store = Store(db)
    try:
        ids = [record.id for record in store.all("line_items")]
        linked = 0
        for start in range(0, len(ids), 5000):
            found = store.links_from(ids[start : start + 5000], "deals")
            linked += sum(1 for links in found.values() if links)
        return {
            "deals": store.count("deals"),
            "line_items": len(ids),
            "line_items_linked": linked,
        }
    finally:
        store.close()
