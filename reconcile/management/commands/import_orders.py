"""Import a store's order export; the work is in reconcile.importers."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_slug

from reconcile import importers

INTERRUPTED = "Import interrupted; nothing was changed."


class Command(BaseCommand):
    help = (
        "Import a store's orders from a CSV export (.csv or .csv.gz). A file "
        "with any bad row is refused as a whole; re-importing is safe."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="The .csv or .csv.gz file")
        parser.add_argument(
            "--format",
            required=True,
            help=f"The file's format: {', '.join(importers.FORMATS)}",
        )
        parser.add_argument("--store", help="Store slug (default: per format)")
        parser.add_argument("--store-name", help="Name for a new store")

    def handle(self, *args, path: Path, **options) -> None:
        file_format = _format(options["format"])
        slug = _slug(options["store"] or file_format.store_slug)
        name = options["store_name"] or file_format.store_name
        _check_file(path)

        try:
            result = importers.import_file(path, file_format, slug, name)
        except importers.ImportRefused as exc:
            raise CommandError(
                f"{path} was refused, nothing was imported "
                f"({_count(len(exc.problems), 'problem')}):\n{exc.describe()}"
            ) from exc
        except OSError as exc:
            raise CommandError(f"{path}: {exc}") from exc
        except KeyboardInterrupt:
            # The import is one transaction, and it was rolled back.
            raise CommandError(INTERRUPTED, returncode=130) from None
        self.stdout.write(_summary(path, result))


def _check_file(path: Path) -> None:
    # A FIFO or a device would be read forever, or as nothing at all.
    if path.is_dir():
        raise CommandError(f"{path}: is a directory")
    if not path.exists():
        raise CommandError(f"{path}: no such file")
    if not path.is_file():
        raise CommandError(f"{path}: is not a regular file")


def _format(name: str) -> importers.FileFormat:
    if name not in importers.FORMATS:
        supported = ", ".join(importers.FORMATS)
        raise CommandError(f"Unknown format {name!r}. Supported formats: {supported}")
    return importers.FORMATS[name]


def _slug(value: str) -> str:
    try:
        validate_slug(value)
    except ValidationError as exc:
        raise CommandError(f"--store {value!r} is not a slug") from exc
    if len(value) > 50:
        raise CommandError(f"--store {value!r} is longer than 50 characters")
    return value


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _summary(path: Path, result: importers.ImportResult) -> str:
    staged = result.staged
    return "\n".join(
        [
            f"Imported {path} into store {result.store.slug} "
            f"({result.store.name}): {_count(result.rows, 'row')}.",
            f"Orders: {result.orders_created} created, "
            f"{result.orders_updated} updated, {result.orders_unchanged} unchanged "
            f"(in the file: credit notes {result.credit_notes}, "
            f"stock adjustments {result.stock_adjustments}).",
            f"Lines: {result.lines_created} created, {result.lines_updated} updated, "
            f"{result.lines_deleted} deleted, {result.lines_unchanged} unchanged.",
            f"Staged for sync: {_count(staged.created + staged.changed, 'item')} "
            f"({staged.created} new, {staged.changed} changed, "
            f"{staged.unchanged} unchanged).",
        ]
    )
