"""Order files for the benchmarks, cut from or grown out of the bundled real data."""

import csv
import gzip
from collections.abc import Iterator
from itertools import groupby
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL_DATA = ROOT / "data" / "online-retail-2010-12_2011-01.csv.gz"
# Copies of real invoices get their number plus this (536365 -> 1536365), so
# they never meet a real one; a second copy adds it twice.
COPY_OFFSET = 1_000_000


def _real_rows() -> tuple[list[str], list[list[str]]]:
    with gzip.open(REAL_DATA, "rt", encoding="utf-8", newline="") as source:
        reader = csv.reader(source)
        return next(reader), list(reader)


def _invoices(rows: list[list[str]]) -> Iterator[list[list[str]]]:
    for _, invoice in groupby(rows, key=lambda row: row[0]):
        yield list(invoice)


def _write(path: Path, header: list[str], rows: list[list[str]]) -> int:
    with path.open("w", encoding="utf-8", newline="") as target:
        writer = csv.writer(target)
        writer.writerow(header)
        writer.writerows(rows)
    return len(rows)


def first_invoices(path: Path, max_rows: int) -> int:
    """Write the real file's first whole invoices, at most ``max_rows`` rows.

    Returns the number of rows written.
    """
    header, rows = _real_rows()
    kept: list[list[str]] = []
    for invoice in _invoices(rows):
        if len(kept) + len(invoice) > max_rows:
            break
        kept += invoice
    return _write(path, header, kept)


def _renumbered(invoice: list[list[str]], copy: int) -> list[list[str]]:
    number = invoice[0][0]
    prefix = number[0] if number[0].isalpha() else ""
    new = f"{prefix}{int(number.removeprefix(prefix)) + copy * COPY_OFFSET}"
    return [[new, *row[1:]] for row in invoice]


def grown(path: Path, total_rows: int) -> int:
    """Write the whole real file, then copies of its invoices under new numbers.

    Copies are whole invoices, in file order, until ``total_rows`` rows; the
    last copy is cut short to land on the number exactly.
    """
    header, rows = _real_rows()
    out = list(rows)
    copy = 0
    while len(out) < total_rows:
        copy += 1
        for invoice in _invoices(rows):
            out += _renumbered(invoice, copy)[: total_rows - len(out)]
            if len(out) >= total_rows:
                break
    return _write(path, header, out[:total_rows])


def orders(path: Path, rows: int) -> int:
    """The first whole invoices, or the file grown, whichever gives ``rows`` rows."""
    _, real = _real_rows()
    if rows <= len(real):
        return first_invoices(path, rows)
    return grown(path, rows)
