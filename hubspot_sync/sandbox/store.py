"""The sandbox's records in one SQLite file, behind one lock.

Object IDs are unique across the portal, so associations key on IDs alone.
Unique-value properties are enforced by a table whose primary key is the value:
the planner checks first, and the table makes a second holder impossible.
A merged-away record's row is deleted; its ID stays in ``merged_id``, pointing
at the record that survived.
"""

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubspot_sync.sandbox.history import API, Source, Version
from hubspot_sync.sandbox.kinds import ObjectKind, find_kind
from hubspot_sync.sandbox.schema import STANDARD_PROPERTIES, PropertyDef

# Above 2**32, so that a client which squeezes IDs into 32 bits fails here first.
FIRST_ID = 40_000_000_001

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS object (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    properties TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    archived_ms INTEGER
);
CREATE INDEX IF NOT EXISTS object_kind ON object (kind, id);
CREATE TABLE IF NOT EXISTS unique_value (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    object_id INTEGER NOT NULL,
    PRIMARY KEY (kind, name, value)
);
CREATE INDEX IF NOT EXISTS unique_value_object ON unique_value (object_id);
CREATE TABLE IF NOT EXISTS property_history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    object_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    source_type TEXT NOT NULL,
    source_id TEXT NOT NULL,
    user_id INTEGER
);
CREATE INDEX IF NOT EXISTS property_history_object ON property_history (object_id, name);
CREATE TABLE IF NOT EXISTS custom_property (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    PRIMARY KEY (kind, name)
);
CREATE TABLE IF NOT EXISTS merged_id (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    survivor_id INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS merged_id_survivor ON merged_id (survivor_id);
CREATE TABLE IF NOT EXISTS association (
    from_id INTEGER NOT NULL,
    to_id INTEGER NOT NULL,
    to_kind TEXT NOT NULL,
    category TEXT NOT NULL,
    type_id INTEGER NOT NULL,
    PRIMARY KEY (from_id, to_kind, to_id, type_id)
);
CREATE TABLE IF NOT EXISTS import_job (
    id INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    files TEXT NOT NULL,
    active INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS import_job_active ON import_job (active, id);
CREATE TABLE IF NOT EXISTS import_error (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    import_id INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS import_error_import ON import_error (import_id, seq);
"""


class UniqueTaken(Exception):
    """A unique value another live record holds."""

    def __init__(self, name: str, value: str, holder: str) -> None:
        super().__init__(f"{name} {value!r} is held by record {holder}")
        self.name, self.value, self.holder = name, value, holder


@dataclass(frozen=True)
class Record:
    id: str
    kind: str
    properties: dict[str, str]
    created_ms: int
    updated_ms: int
    archived_ms: int | None = None

    @property
    def archived(self) -> bool:
        return self.archived_ms is not None


@dataclass(frozen=True)
class Link:
    """One direction of an association."""

    from_id: str
    to_kind: str
    to_id: str
    category: str
    type_id: int


def _kind_name(kind: "str | ObjectKind") -> str:
    found = find_kind(kind)
    if found is None:
        raise ValueError(f"unknown object type {kind!r}")
    return found.name


def _record(row: tuple) -> Record:
    object_id, kind, properties, created, updated, archived = row
    return Record(
        str(object_id), kind, json.loads(properties), created, updated, archived
    )


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _object_id(text: str) -> int | None:
    return int(text) if text.isdigit() else None


_COLUMNS = "id, kind, properties, created_ms, updated_ms, archived_ms"
_HISTORY_COLUMNS = (
    "object_id, name, value, timestamp_ms, source_type, source_id, user_id"
)
_LINK_SQL = (
    "INSERT OR IGNORE INTO association (from_id, to_id, to_kind, category, type_id)"
    " VALUES (?, ?, ?, ?, ?)"
)


class Store:
    def __init__(self, path: str | Path) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None
        )
        # Search lower-cases values as Python does; SQLite's own lower() is ASCII only.
        self._db.create_function("py_lower", 1, _lower, deterministic=True)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._definitions = self._load_definitions()
        # hubspot_sync.sandbox.webhooks.Webhooks: told what each write
        # transaction changed, so that it can deliver webhooks once it commits.
        self.observer: Any = None

    def _watched(self) -> bool:
        return self.observer is not None and self.observer.active

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Hold the lock and one transaction; nested uses join the outer one."""
        with self._lock:
            if self._depth == 0:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._db.execute("ROLLBACK")
                    if self.observer is not None:
                        self.observer.rolled_back()
                raise
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("COMMIT")
                if self.observer is not None:
                    self.observer.committed()

    # Properties

    def _load_definitions(self) -> dict[str, dict[str, PropertyDef]]:
        definitions = {kind: dict(props) for kind, props in STANDARD_PROPERTIES.items()}
        for kind, text in self._db.execute(
            "SELECT kind, definition FROM custom_property"
        ):
            definition = PropertyDef.from_storage(json.loads(text))
            definitions[kind][definition.name] = definition
        return definitions

    def definitions(self, kind: "str | ObjectKind") -> Mapping[str, PropertyDef]:
        with self._lock:
            return dict(self._definitions[_kind_name(kind)])

    def add_definition(self, kind: "str | ObjectKind", definition: PropertyDef) -> None:
        name = _kind_name(kind)
        with self.atomic():
            self._db.execute(
                "INSERT INTO custom_property (kind, name, definition) VALUES (?, ?, ?)",
                (name, definition.name, json.dumps(definition.to_storage())),
            )
            self._definitions[name][definition.name] = definition

    def _unique_names(self, kind: str) -> list[str]:
        return [p.name for p in self._definitions[kind].values() if p.unique]

    # Objects

    def allocate_ids(self, count: int) -> list[str]:
        with self.atomic():
            row = self._db.execute(
                "SELECT value FROM meta WHERE key = 'next_id'"
            ).fetchone()
            first = int(row[0]) if row else FIRST_ID
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('next_id', ?)",
                (str(first + count),),
            )
        return [str(first + i) for i in range(count)]

    def get(
        self, kind: "str | ObjectKind", object_id: str, *, archived: bool = False
    ) -> Record | None:
        return self.get_many(kind, [object_id], archived=archived).get(object_id)

    def get_many(
        self,
        kind: "str | ObjectKind",
        object_ids: Iterable[str],
        *,
        archived: bool = False,
    ) -> dict[str, Record]:
        numbers = [n for n in map(_object_id, object_ids) if n is not None]
        if not numbers:
            return {}
        marks = ",".join("?" * len(numbers))
        archived_test = "IS NOT NULL" if archived else "IS NULL"
        # Only placeholders and fixed tests are formatted in (S608).
        sql = (
            f"SELECT {_COLUMNS} FROM object"  # noqa: S608
            f" WHERE kind = ? AND archived_ms {archived_test} AND id IN ({marks})"
        )
        with self._lock:
            rows = self._db.execute(sql, [_kind_name(kind), *numbers]).fetchall()
        return {str(row[0]): _record(row) for row in rows}

    def holders(
        self, kind: "str | ObjectKind", name: str, values: Iterable[str]
    ) -> dict[str, str]:
        """Map each value of a unique property to the ID of the live record holding it."""
        values = list(values)
        if not values:
            return {}
        marks = ",".join("?" * len(values))
        sql = (
            "SELECT value, object_id FROM unique_value"  # noqa: S608
            f" WHERE kind = ? AND name = ? AND value IN ({marks})"
        )
        with self._lock:
            rows = self._db.execute(sql, [_kind_name(kind), name, *values]).fetchall()
        return {value: str(object_id) for value, object_id in rows}

    def find_by_property(
        self, kind: "str | ObjectKind", name: str, value: str, *, archived: bool = False
    ) -> list[Record]:
        archived_test = "IS NOT NULL" if archived else "IS NULL"
        sql = (
            f"SELECT {_COLUMNS} FROM object"  # noqa: S608
            f" WHERE kind = ? AND archived_ms {archived_test}"
            " AND json_extract(properties, '$.' || json_quote(?)) = ? ORDER BY id"
        )
        with self._lock:
            rows = self._db.execute(sql, (_kind_name(kind), name, value)).fetchall()
        return [_record(row) for row in rows]

    def page(
        self,
        kind: "str | ObjectKind",
        *,
        after: int,
        limit: int,
        archived: bool = False,
    ) -> list[Record]:
        archived_test = "IS NOT NULL" if archived else "IS NULL"
        sql = (
            f"SELECT {_COLUMNS} FROM object"  # noqa: S608
            f" WHERE kind = ? AND archived_ms {archived_test} AND id >= ?"
            " ORDER BY id LIMIT ?"
        )
        with self._lock:
            rows = self._db.execute(sql, (_kind_name(kind), after, limit)).fetchall()
        return [_record(row) for row in rows]

    def any_lowered_in(
        self, kind: "str | ObjectKind", choices: list[tuple[str, list[str]]]
    ) -> list[Record]:
        """Live records, in ID order, whose value of some ``name``, lower-cased, is
        one of its ``values``: a narrowing step for search."""
        tests, params = [], []
        for name, values in choices:
            marks = ",".join("?" * len(values))
            tests.append(
                f"py_lower(json_extract(properties, '$.' || json_quote(?))) IN ({marks})"
            )
            params += [name, *values]
        sql = (
            f"SELECT {_COLUMNS} FROM object WHERE kind = ? AND archived_ms IS NULL"  # noqa: S608
            f" AND ({' OR '.join(tests)}) ORDER BY id"
        )
        with self._lock:
            rows = self._db.execute(sql, [_kind_name(kind), *params]).fetchall()
        return [_record(row) for row in rows]

    def all(self, kind: "str | ObjectKind", *, archived: bool = False) -> list[Record]:
        return self.page(kind, after=0, limit=-1, archived=archived)

    def count(self, kind: "str | ObjectKind", *, archived: bool = False) -> int:
        archived_test = "IS NOT NULL" if archived else "IS NULL"
        sql = (
            "SELECT count(*) FROM object"  # noqa: S608
            f" WHERE kind = ? AND archived_ms {archived_test}"
        )
        with self._lock:
            return self._db.execute(sql, (_kind_name(kind),)).fetchone()[0]

    def save(self, records: list[Record], *, index_unique: bool = True) -> None:
        """Insert or replace records, keeping the unique-value index in step.

        ``index_unique=False`` leaves their unique values out of the index: the
        control endpoint's stand-in for a record made while the property was
        not unique (docs/sandbox.md, "Property history and edits").
        """
        with self.atomic():
            if self._watched():
                self.observer.saving(records, self._existing([r.id for r in records]))
            self._db.executemany(
                f"INSERT OR REPLACE INTO object ({_COLUMNS})"  # noqa: S608
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        int(r.id),
                        r.kind,
                        json.dumps(r.properties),
                        r.created_ms,
                        r.updated_ms,
                        r.archived_ms,
                    )
                    for r in records
                ],
            )
            self._db.executemany(
                "DELETE FROM unique_value WHERE object_id = ?",
                [(int(r.id),) for r in records],
            )
            self._db.executemany(
                "INSERT INTO unique_value (kind, name, value, object_id) VALUES (?, ?, ?, ?)",
                [
                    row
                    for r in records
                    if index_unique and not r.archived
                    for row in self._unique_rows(r)
                ],
            )

    def _unique_rows(self, record: Record) -> Iterator[tuple[str, str, str, int]]:
        for name in self._unique_names(record.kind):
            value = record.properties.get(name)
            if value:
                yield record.kind, name, value, int(record.id)

    def _existing(self, object_ids: list[str]) -> set[str]:
        return set(self._kinds(object_ids))

    def _kinds(self, object_ids: list[str]) -> dict[str, str]:
        """The kind of each of these records that exists, archived or not."""
        numbers = [n for n in map(_object_id, object_ids) if n is not None]
        if not numbers:
            return {}
        marks = ",".join("?" * len(numbers))
        sql = f"SELECT id, kind FROM object WHERE id IN ({marks})"  # noqa: S608
        return {str(i): kind for i, kind in self._db.execute(sql, numbers)}

    def archive(
        self,
        kind: "str | ObjectKind",
        object_ids: Iterable[str],
        when_ms: int,
        source: Source = API,
    ) -> None:
        # An archived record gives up its unique values, so that an upsert on the
        # same key creates a new record instead of failing for 90 days.
        with self.atomic():
            live = self.get_many(kind, object_ids)
            self._db.executemany(
                "UPDATE object SET archived_ms = ? WHERE id = ?",
                [(when_ms, int(object_id)) for object_id in live],
            )
            self._db.executemany(
                "DELETE FROM unique_value WHERE object_id = ?",
                [(int(object_id),) for object_id in live],
            )
            if self._watched():
                self.observer.archived(_kind_name(kind), list(live), when_ms, source)

    def restore(
        self,
        kind: "str | ObjectKind",
        object_ids: Iterable[str],
        when_ms: int,
        source: Source = API,
    ) -> list[str]:
        """Bring archived records back, unique values and links included.

        Raises UniqueTaken when a live record took one of a record's unique
        values meanwhile (an upsert on its key made a new record): both
        cannot hold it, so nothing is restored.
        """
        with self.atomic():
            gone = self.get_many(kind, object_ids, archived=True)
            rows = [
                row for record in gone.values() for row in self._unique_rows(record)
            ]
            for row_kind, name, value, _ in rows:
                holder = self.holders(row_kind, name, [value]).get(value)
                if holder is not None:
                    raise UniqueTaken(name, value, holder)
            self._db.executemany(
                "UPDATE object SET archived_ms = NULL, updated_ms = ? WHERE id = ?",
                [(when_ms, int(object_id)) for object_id in gone],
            )
            self._db.executemany(
                "INSERT INTO unique_value (kind, name, value, object_id) VALUES (?, ?, ?, ?)",
                rows,
            )
            if self._watched():
                self.observer.restored(_kind_name(kind), list(gone), when_ms, source)
        return list(gone)

    # Property history

    def add_history(
        self, entries: Iterable[tuple[str, str, str]], when_ms: int, source: Source
    ) -> None:
        """Store a version of each (object ID, property, value) set at ``when_ms``."""
        with self.atomic():
            if self._watched():
                entries = list(entries)
                self.observer.history(entries, when_ms, source)
            self._db.executemany(
                f"INSERT INTO property_history ({_HISTORY_COLUMNS})"  # noqa: S608
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (int(i), n, v, when_ms, source.type, source.id, source.user_id)
                    for i, n, v in entries
                ],
            )

    def copy_history(self, from_id: str, to_id: str) -> None:
        """Give ``to_id`` the versions ``from_id`` has (a merge into a new ID)."""
        with self.atomic():
            self._db.execute(
                f"INSERT INTO property_history ({_HISTORY_COLUMNS})"  # noqa: S608
                " SELECT ?, name, value, timestamp_ms, source_type, source_id, user_id"
                " FROM property_history WHERE object_id = ? ORDER BY seq",
                (int(to_id), int(from_id)),
            )

    def history(
        self, object_ids: Iterable[str], names: Iterable[str]
    ) -> dict[str, dict[str, list[Version]]]:
        """The versions of each named property of each record, newest first."""
        numbers = [n for n in map(_object_id, object_ids) if n is not None]
        names = list(dict.fromkeys(names))
        found: dict[str, dict[str, list[Version]]] = {
            str(n): {name: [] for name in names} for n in numbers
        }
        if not numbers or not names:
            return found
        sql = (
            f"SELECT {_HISTORY_COLUMNS}"  # noqa: S608
            f" FROM property_history WHERE object_id IN ({','.join('?' * len(numbers))})"
            f" AND name IN ({','.join('?' * len(names))})"
            " ORDER BY object_id, name, timestamp_ms DESC, seq DESC"
        )
        with self._lock:
            rows = self._db.execute(sql, [*numbers, *names]).fetchall()
        for object_id, name, value, ms, source_type, source_id, user_id in rows:
            source = Source(source_type, source_id, user_id)
            found[str(object_id)][name].append(Version(value, ms, source))
        return found

    # Associations

    def link(self, links: Iterable[Link]) -> None:
        with self.atomic():
            if self._watched():
                self._link_watched(list(links))
                return
            self._db.executemany(
                _LINK_SQL,
                [
                    (int(k.from_id), int(k.to_id), k.to_kind, k.category, k.type_id)
                    for k in links
                ],
            )

    def unlink(
        self,
        from_kind: "str | ObjectKind",
        from_id: str,
        to_kind: "str | ObjectKind",
        to_id: str,
        source: Source = API,
    ) -> int:
        """Remove every association between two records, both directions.

        Returns how many directions were removed (0 when none existed).
        """
        ends = [
            (_kind_name(from_kind), from_id, _kind_name(to_kind), to_id),
            (_kind_name(to_kind), to_id, _kind_name(from_kind), from_id),
        ]
        removed = []
        with self.atomic():
            for end in ends:
                cursor = self._db.execute(
                    "DELETE FROM association"
                    " WHERE from_id = ? AND to_kind = ? AND to_id = ?",
                    (int(end[1]), end[2], int(end[3])),
                )
                if cursor.rowcount:
                    removed.append(end)
            if removed and self._watched():
                self.observer.linked(removed, removed=True, source=source)
        return len(removed)

    def _link_watched(self, links: list[Link]) -> None:
        """Link one by one, telling the observer which links are new."""
        new = []
        for k in links:
            cursor = self._db.execute(
                _LINK_SQL,
                (int(k.from_id), int(k.to_id), k.to_kind, k.category, k.type_id),
            )
            if cursor.rowcount:
                new.append(k)
        kinds = self._kinds([str(int(k.from_id)) for k in new])
        self.observer.linked(
            [
                (kinds[str(int(k.from_id))], k.from_id, k.to_kind, k.to_id)
                for k in new
                if str(int(k.from_id)) in kinds
            ]
        )

    def links_from(
        self, from_ids: Iterable[str], to_kind: "str | ObjectKind"
    ) -> dict[str, list[Link]]:
        """The links from each ID to live records of ``to_kind``."""
        numbers = [n for n in map(_object_id, from_ids) if n is not None]
        found: dict[str, list[Link]] = {str(n): [] for n in numbers}
        if not numbers:
            return found
        marks = ",".join("?" * len(numbers))
        sql = (
            "SELECT a.from_id, a.to_id, a.category, a.type_id FROM association a"  # noqa: S608
            " JOIN object o ON o.id = a.to_id AND o.archived_ms IS NULL"
            f" WHERE a.to_kind = ? AND a.from_id IN ({marks})"
            " ORDER BY a.from_id, a.to_id, a.type_id"
        )
        name = _kind_name(to_kind)
        with self._lock:
            rows = self._db.execute(sql, [name, *numbers]).fetchall()
        for from_id, to_id, category, type_id in rows:
            found[str(from_id)].append(
                Link(str(from_id), name, str(to_id), category, type_id)
            )
        return found

    # Imports (sandbox/imports.py): the job as JSON, its files' text apart.

    def save_import(self, import_id: str, body: dict, active: bool) -> None:
        with self.atomic():
            self._db.execute(
                "UPDATE import_job SET body = ?, active = ? WHERE id = ?",
                (json.dumps(body), int(active), int(import_id)),
            )

    def add_import(self, import_id: str, body: dict, files: dict[str, str]) -> None:
        with self.atomic():
            self._db.execute(
                "INSERT INTO import_job (id, body, files, active) VALUES (?, ?, ?, 1)",
                (int(import_id), json.dumps(body), json.dumps(files)),
            )

    def imports(
        self, *, active_only: bool = False, after: int = 0, limit: int = -1
    ) -> list[dict]:
        test = "active = 1 AND " if active_only else ""
        sql = f"SELECT body FROM import_job WHERE {test}id > ? ORDER BY id LIMIT ?"  # noqa: S608
        with self._lock:
            rows = self._db.execute(sql, (after, limit)).fetchall()
        return [json.loads(row[0]) for row in rows]

    def import_files(self, import_id: str) -> dict[str, str]:
        with self._lock:
            row = self._db.execute(
                "SELECT files FROM import_job WHERE id = ?", (_object_id(import_id),)
            ).fetchone()
        return json.loads(row[0]) if row else {}

    def add_import_errors(self, import_id: str, bodies: list[dict]) -> None:
        with self.atomic():
            self._db.executemany(
                "INSERT INTO import_error (import_id, body) VALUES (?, ?)",
                [(int(import_id), json.dumps(body)) for body in bodies],
            )

    def import_errors(
        self, import_id: str, after: int, limit: int
    ) -> list[tuple[int, dict]]:
        """(seq, error) pairs of one import after ``after``, in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, body FROM import_error WHERE import_id = ? AND seq > ?"
                " ORDER BY seq LIMIT ?",
                (_object_id(import_id), after, limit),
            ).fetchall()
        return [(seq, json.loads(body)) for seq, body in rows]

    def meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM meta WHERE key = ?", (key,)
            ).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.atomic():
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value)
            )

    # Merges

    def survivors(
        self, kind: "str | ObjectKind", object_ids: Iterable[str]
    ) -> dict[str, str]:
        """Map each merged-away ID among ``object_ids`` to the ID that absorbed it."""
        numbers = [n for n in map(_object_id, object_ids) if n is not None]
        if not numbers:
            return {}
        marks = ",".join("?" * len(numbers))
        sql = (
            "SELECT id, survivor_id FROM merged_id"  # noqa: S608
            f" WHERE kind = ? AND id IN ({marks})"
        )
        with self._lock:
            rows = self._db.execute(sql, [_kind_name(kind), *numbers]).fetchall()
        return {str(old): str(survivor) for old, survivor in rows}

    def merge(
        self, survivor: Record, absorbed: Iterable[Record], source: Source = API
    ) -> None:
        """Replace the absorbed records by ``survivor``: rows, unique values, links.

        ``survivor`` may be one of the absorbed records' IDs (the primary keeps
        its ID) or a new one. Their former IDs then resolve to it.
        """
        absorbed = list(absorbed)
        gone = [int(r.id) for r in absorbed if r.id != survivor.id]
        new = int(survivor.id)
        with self.atomic():
            if self._watched():
                self.observer.merged(
                    survivor.kind,
                    [r.id for r in absorbed],
                    survivor.id,
                    survivor.updated_ms,
                    source,
                )
            self._db.executemany(
                "DELETE FROM object WHERE id = ?", [(old,) for old in gone]
            )
            self._db.executemany(
                "DELETE FROM unique_value WHERE object_id = ?",
                [(old,) for old in [*gone, new]],
            )
            self.save([survivor])
            for old in gone:
                self._db.execute(
                    "UPDATE merged_id SET survivor_id = ? WHERE survivor_id = ?",
                    (new, old),
                )
                self._db.execute(
                    "INSERT INTO merged_id (id, kind, survivor_id) VALUES (?, ?, ?)",
                    (old, survivor.kind, new),
                )
                self._move_links(old, new)

    def _move_links(self, old: int, new: int) -> None:
        # OR IGNORE: a link both records had is kept once; the old copy is dropped.
        for column in ("from_id", "to_id"):
            self._db.execute(
                f"UPDATE OR IGNORE association SET {column} = ? WHERE {column} = ?",  # noqa: S608
                (new, old),
            )
            self._db.execute(
                f"DELETE FROM association WHERE {column} = ?",  # noqa: S608
                (old,),
            )

    def reset(self) -> None:
        """Wipe records, associations and custom properties; IDs keep increasing."""
        with self.atomic():
            for table in (
                "object",
                "property_history",
                "unique_value",
                "custom_property",
                "association",
                "merged_id",
                "import_job",
                "import_error",
            ):
                self._db.execute(f"DELETE FROM {table}")  # noqa: S608
            self._definitions = self._load_definitions()
