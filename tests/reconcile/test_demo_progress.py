"""The demo's progress lines: overwritten on a terminal, one per line elsewhere."""

import io

from reconcile.management.commands import demo


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
