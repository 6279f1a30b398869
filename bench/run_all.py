"""Run every benchmark, one process each, and sum up the targets: ``make bench``.

A missed target is a figure, not a failure: the exit status is non-zero only
when a benchmark could not run to its end.
"""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import ROOT, stop_on_sigterm

BENCHMARKS = [
    ("a", ["bench.throughput", "--workers", "1"]),
    ("b", ["bench.throughput", "--workers", "4"]),
    ("c", ["bench.overhead"]),
    ("d", ["bench.baseline"]),
    # The 20,000-line runs fit in about one 10 s window; these show the
    # budget in a steady state (supplementary, same targets as a and b).
    ("a, 100k lines", ["bench.throughput", "--workers", "1", "--lines", "100000"]),
    ("b, 100k lines", ["bench.throughput", "--workers", "4", "--lines", "100000"]),
]
FIGURES_PREFIX = "figures: "


def _run(module: list[str]) -> tuple[int, Path | None]:
    """Run one benchmark, passing its output through; return its status and JSON."""
    child = subprocess.Popen(
        [sys.executable, "-m", *module],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    figures = None
    try:
        for line in child.stdout:
            print(line, end="", flush=True)
            if line.startswith(FIGURES_PREFIX):
                figures = Path(line.removeprefix(FIGURES_PREFIX).strip())
        return child.wait(), figures
    except KeyboardInterrupt:
        # Ctrl-C reached the benchmark too, a SIGTERM to this process did not;
        # either way it stops what it started, then ends.
        try:
            child.wait(timeout=2)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGTERM)
        child.wait()
        raise


def _targets(label: str, figures: Path | None) -> list[str]:
    if figures is None:
        return [f"({label}) no figures: the benchmark did not finish"]
    rows = json.loads(figures.read_text())["table"]
    return [
        f"({label}) {row[0]}: {' / '.join(str(c) for c in row[1:-2] if c != '')}"
        f"  [target {row[-2]}: {row[-1]}]"
        for row in rows[1:]
        if row[-1]
    ]


def main() -> int:
    stop_on_sigterm()
    started = time.monotonic()
    summary, failed = [], 0
    for label, module in BENCHMARKS:
        print(f"\n### ({label}) python -m {' '.join(module)}", flush=True)
        began = time.monotonic()
        status, figures = _run(module)
        failed += status != 0
        summary += _targets(label, figures)
        print(f"({label}) took {time.monotonic() - began:.0f} s", flush=True)
    print("\n### Targets")
    print("\n".join(summary))
    print(f"\nmake bench took {(time.monotonic() - started) / 60:.1f} min")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("Interrupted; everything the benchmarks started is stopped.")
