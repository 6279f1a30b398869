"""The demo command: its progress lines, and stopping it all on a signal."""

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from reconcile.management.commands import demo

ROOT = Path(__file__).resolve().parents[2]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_into_a_file_each_new_line_stands_alone(monkeypatch):
    monkeypatch.setattr(demo, "PROGRESS_EVERY", 0)
    out = io.StringIO()
    command = demo.Command(stdout=out)

    for line in ["Sync run 1: Objects, batch 1/9", "Sync run 1: Objects, batch 1/9"]:
        command._progress(line)
    command._progress("Sync run 1: Links, batch 9/9")
    command._end_progress()

    assert out.getvalue() == (
        "Sync run 1: Objects, batch 1/9\nSync run 1: Links, batch 9/9\n"
    )


def test_into_a_file_lines_come_at_most_every_few_seconds(monkeypatch):
    clock = iter([100.0, 101.0, 111.0])
    monkeypatch.setattr(demo.time, "monotonic", lambda: next(clock))
    out = io.StringIO()
    command = demo.Command(stdout=out)

    for n in (1, 2, 3):
        command._progress(f"Sweep 1: {n}/3 items checked, {n} calls")

    assert out.getvalue().splitlines() == [
        "Sweep 1: 1/3 items checked, 1 calls",
        "Sweep 1: 3/3 items checked, 3 calls",
    ]


def test_on_a_terminal_the_line_is_overwritten_and_ended_once():
    out = Terminal()
    command = demo.Command(stdout=out)

    command._progress("Sync run 1: Objects, batch 10/90")
    command._progress("Sync run 1: Done")
    command._end_progress()

    assert out.getvalue() == (
        "\rSync run 1: Objects, batch 10/90\rSync run 1: Done                \n"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _processes() -> dict[int, tuple[str, int, int]]:
    """Each live process: (state, parent, process group), from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # it ended while we looked
            found[int(entry.name)] = (fields[0], int(fields[1]), int(fields[2]))
    return found


def _pids_in(group: int) -> list[int]:
    return [
        pid
        for pid, (state, _, pgrp) in _processes().items()
        if pgrp == group and state != "Z"
    ]


def test_two_quick_kills_stop_the_sandbox_worker_and_dashboard(tmp_path):
    """A supervisor and a person may both signal: the second must not cut the
    stopping short and leave a child running."""
    web, sandbox = _free_port(), _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "HUBSPOT_BASE_URL")
    }
    env |= {"TALLY_VAR_DIR": str(tmp_path), "TALLY_SANDBOX_PORT": str(sandbox)}
    log = (tmp_path / "demo.log").open("w+")
    command = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--no-sync", "--port", str(web)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while "Ctrl-C stops it all." not in (tmp_path / "demo.log").read_text():
            assert command.poll() is None, (tmp_path / "demo.log").read_text()
            assert time.monotonic() < deadline, "the demo did not come up"
            time.sleep(0.5)
        children = [
            pid for group in _child_groups(command.pid) for pid in _pids_in(group)
        ]
        assert _listening(web) and _listening(sandbox) and children

        for _ in range(5):  # as `timeout` and `pkill` both passing one on, and more
            command.send_signal(signal.SIGTERM)
            time.sleep(0.02)
        command.wait(timeout=60)
    finally:
        if command.poll() is None:
            os.killpg(command.pid, signal.SIGKILL)
        log.close()

    output = (tmp_path / "demo.log").read_text()
    assert "Stopping…" in output
    assert "Traceback" not in output
    assert not _listening(web) and not _listening(sandbox)
    assert [pid for pid in children if Path(f"/proc/{pid}").exists()] == []


def _child_groups(parent: int) -> set[int]:
    """The process groups of ``parent``'s children (each child has its own)."""
    return {pgrp for _, ppid, pgrp in _processes().values() if ppid == parent}
