"""HubSpot's imports API (api-facts §6), processed asynchronously.

``POST /crm/v3/imports`` answers at once with the import STARTED. Time then
moves it on, judged afresh on every request (``advance``), so a test with a
frozen clock sees exactly the states it asks for: STARTED for a quarter of
the processing time, then PROCESSING, or DEFERRED while three imports are
processing (D-IMP); after the processing time DONE, having upserted its rows
by the key column, or FAILED when its request cannot be carried out. Rows
that cannot be written are counted and listed at ``…/errors`` with paging.
"""

import csv
import io
import json
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import urlencode

from hubspot_sync.sandbox.clock import iso, now_ms
from hubspot_sync.sandbox.errors import ApiError, InputFailure, bad_request
from hubspot_sync.sandbox.history import Source
from hubspot_sync.sandbox.kinds import ObjectKind, find_kind
from hubspot_sync.sandbox.messages import Context, Response
from hubspot_sync.sandbox.writes import Plan, Planner

MAX_PROCESSING = 3  # D-IMP: "The maximum number of imports (three)"
MAX_ROWS = 1_048_576  # D-IMP: rows in one file
DEFAULT_SECONDS = 2.0
SECONDS_KEY = "import_seconds"
ACTIVE = ("STARTED", "PROCESSING", "DEFERRED")
OPERATIONS = ("CREATE", "UPDATE", "UPSERT")
ERROR_PAGE = 100
MAX_ERROR_PAGE = 500
# How the sandbox's value problems read as import error types (SPEC's enum).
ERROR_TYPES = {
    "INVALID_INTEGER": "COULD_NOT_PARSE_NUMBER",
    "INVALID_DATE": "COULD_NOT_PARSE_DATE",
    "INVALID_OPTION": "INVALID_ENUMERATION_OPTION",
    "DUPLICATE_UNIQUE_PROPERTY_VALUE": "DUPLICATE_UNIQUE_PROPERTY_VALUE",
}


class ImportFailed(Exception):
    """The import as a whole cannot be carried out: it ends FAILED."""


def configure(store: Any, processing_seconds: float) -> None:
    if not 0 <= processing_seconds <= 3600:
        raise ValueError("processing_seconds must be in [0, 3600]")
    store.set_meta(SECONDS_KEY, str(float(processing_seconds)))


def processing_ms(store: Any) -> int:
    return int(float(store.meta(SECONDS_KEY) or DEFAULT_SECONDS) * 1000)


# Endpoints


def start(ctx: Context) -> Response:
    fields, files = _multipart(ctx)
    request = _import_request(fields)
    declared = [spec.get("fileName") for spec in request["files"]]
    if sorted(declared) != sorted(files):
        raise bad_request(
            f"importRequest names files {declared}, the request carries {sorted(files)}"
        )
    for name, text in files.items():
        if text.count("\n") > MAX_ROWS:
            raise ApiError(
                429, "RATE_LIMITS", f"{name} has more than {MAX_ROWS:,} rows"
            )
    advance(ctx)
    now = now_ms()
    import_id, *file_ids = ctx.store.allocate_ids(1 + len(files))
    job = {
        "id": import_id,
        "state": "STARTED",
        "request": request,
        "createdMs": now,
        "updatedMs": now,
        "processingMs": None,
        "counters": {},
        "fileIds": dict(zip(declared, file_ids, strict=True)),
    }
    ctx.store.add_import(import_id, job, files)
    return Response(200, _render(job))


def get_one(ctx: Context, import_id: str) -> Response:
    advance(ctx)
    return Response(200, _render(_job(ctx, import_id)))


def list_imports(ctx: Context) -> Response:
    advance(ctx)
    limit = _int_param(ctx, "limit", 10, 100)
    after = _int_param(ctx, "after", 0, None)
    jobs = ctx.store.imports(after=after, limit=limit + 1)
    body: dict[str, Any] = {"results": [_render(job) for job in jobs[:limit]]}
    if len(jobs) > limit:
        body["paging"] = _next(ctx, jobs[limit - 1]["id"], {"limit": limit})
    return Response(200, body)


def cancel(ctx: Context, import_id: str) -> Response:
    advance(ctx)
    requested = now_ms()
    with ctx.store.atomic():
        job = _job(ctx, import_id)
        if job["state"] not in ACTIVE:
            raise bad_request(
                f"Import {import_id} is {job['state']} and can no longer be canceled"
            )
        _set_state(ctx, job, "CANCELED", requested)
        _promote_deferred(ctx, ctx.store.imports(active_only=True), requested)
    body = {
        "status": "COMPLETE",
        "requestedAt": iso(requested),
        "startedAt": iso(requested),
        "completedAt": iso(now_ms()),
    }
    return Response(200, body)


def errors(ctx: Context, import_id: str) -> Response:
    advance(ctx)
    _job(ctx, import_id)
    limit = _int_param(ctx, "limit", ERROR_PAGE, MAX_ERROR_PAGE)
    after = _int_param(ctx, "after", 0, None)
    rows = ctx.store.import_errors(import_id, after, limit + 1)
    with_message = (ctx.request.param("includeErrorMessage") or "true") != "false"
    with_row = (ctx.request.param("includeRowData") or "true") != "false"
    results = [_shown(body, with_message, with_row) for _, body in rows[:limit]]
    answer: dict[str, Any] = {"results": results}
    if len(rows) > limit:
        answer["paging"] = _next(ctx, rows[limit - 1][0], {"limit": limit})
    return Response(200, answer)


def _shown(body: dict, with_message: bool, with_row: bool) -> dict:
    shown = dict(body)
    if not with_message:
        shown.pop("errorMessage", None)
    if not with_row:
        shown["sourceData"] = {**shown["sourceData"], "rowData": []}
    return shown


def _next(ctx: Context, after: Any, query: dict) -> dict:
    link = f"{ctx.request.base_url}{ctx.request.path}?{urlencode({**query, 'after': after})}"
    return {"next": {"after": str(after), "link": link}}


def _int_param(ctx: Context, name: str, default: int, most: int | None) -> int:
    raw = ctx.request.param(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise bad_request(f"`{name}` must be a whole number, got {raw!r}")
    value = int(raw)
    if most is not None and not 1 <= value <= most:
        raise bad_request(f"`{name}` must be between 1 and {most}")
    return value


def _job(ctx: Context, import_id: str) -> dict:
    if import_id.isdigit():
        for job in ctx.store.imports(after=int(import_id) - 1, limit=1):
            if job["id"] == import_id:
                return job
    raise ApiError(404, "OBJECT_NOT_FOUND", f"No import with ID {import_id}")


def _render(job: dict) -> dict[str, Any]:
    request = job["request"]
    return {
        "id": job["id"],
        "state": job["state"],
        "createdAt": iso(job["createdMs"]),
        "updatedAt": iso(job["updatedMs"]),
        "importName": request.get("name", ""),
        "importSource": "API",
        "importRequestJson": request,
        "mappedObjectTypeIds": sorted(_object_type_ids(request)),
        "metadata": {
            "counters": job["counters"],
            "fileIds": list(job["fileIds"].values()),
            "objectLists": [],
        },
        "optOutImport": False,
    }


def _object_type_ids(request: dict) -> set[str]:
    return {
        str(mapping.get("columnObjectTypeId"))
        for spec in request["files"]
        for mapping in spec.get("fileImportPage", {}).get("columnMappings", [])
    }


# The request


def _multipart(ctx: Context) -> tuple[dict[str, str], dict[str, str]]:
    """The text fields and the files (name -> text) of a multipart/form-data body."""
    content_type = ctx.request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise bad_request("An import is sent as multipart/form-data")
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + ctx.request.raw_body)
    fields: dict[str, str] = {}
    files: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        try:
            text = payload.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise bad_request(f"Part {name!r} is not UTF-8 text") from None
        if name == "files":
            files[part.get_filename() or ""] = text
        elif name:
            fields[str(name)] = text
    if not files:
        raise bad_request("An import needs at least one part named `files`")
    return fields, files


def _import_request(fields: dict[str, str]) -> dict:
    """The importRequest JSON, with the shape checked (what it names is checked later)."""
    try:
        request = json.loads(fields.get("importRequest", ""))
    except json.JSONDecodeError as error:
        raise bad_request(f"Invalid importRequest JSON: {error}") from None
    if not isinstance(request, dict) or not isinstance(request.get("files"), list):
        raise bad_request("importRequest needs a `files` list")
    for spec in request["files"]:
        page = spec.get("fileImportPage") if isinstance(spec, dict) else None
        if not isinstance(page, dict) or not isinstance(
            page.get("columnMappings"), list
        ):
            raise bad_request("every file needs fileImportPage.columnMappings")
    operations = request.get("importOperations") or {}
    if not isinstance(operations, dict) or set(operations.values()) - set(OPERATIONS):
        raise bad_request(f"importOperations takes {', '.join(OPERATIONS)}")
    return request


# Time moving the imports on


def advance(ctx: Context) -> None:
    """Apply every state change due by now, in the order they fell due."""
    if not ctx.store.imports(active_only=True, limit=1):
        return  # the common case, without taking the write lock
    now = now_ms()
    with ctx.store.atomic():
        jobs = ctx.store.imports(active_only=True)
        if not jobs:
            return
        duration = processing_ms(ctx.store)
        while True:
            due = [
                (_due_at(job, duration), int(job["id"]), job)
                for job in jobs
                if job["state"] != "DEFERRED"
            ]
            due = [entry for entry in due if entry[0] <= now]
            if not due:
                return
            at, _, job = min(due, key=lambda entry: entry[:2])
            _step(ctx, jobs, job, at, duration)
            jobs = [j for j in jobs if j["state"] in ACTIVE]


def _due_at(job: dict, duration: int) -> int:
    if job["state"] == "STARTED":
        return job["createdMs"] + duration // 4
    return job["processingMs"] + duration


def _step(ctx: Context, jobs: list[dict], job: dict, at: int, duration: int) -> None:
    if job["state"] == "STARTED":
        processing = sum(j["state"] == "PROCESSING" for j in jobs)
        if processing < MAX_PROCESSING:
            job["processingMs"] = at
            _set_state(ctx, job, "PROCESSING", at)
        else:
            _set_state(ctx, job, "DEFERRED", at)
        return
    try:
        _carry_out(ctx, job, at)
    except ImportFailed as failure:
        ctx.store.add_import_errors(
            job["id"], [_error(job, at, "UNKNOWN_ERROR", str(failure), 0, [])]
        )
        _set_state(ctx, job, "FAILED", at)
    else:
        _set_state(ctx, job, "DONE", at)
    _promote_deferred(ctx, jobs, at)


def _promote_deferred(ctx: Context, jobs: list[dict], at: int) -> None:
    processing = sum(j["state"] == "PROCESSING" for j in jobs)
    for job in jobs:
        if job["state"] == "DEFERRED" and processing < MAX_PROCESSING:
            job["processingMs"] = at
            _set_state(ctx, job, "PROCESSING", at)
            processing += 1


def _set_state(ctx: Context, job: dict, state: str, at: int) -> None:
    job["state"], job["updatedMs"] = state, at
    ctx.store.save_import(job["id"], job, state in ACTIVE)


# Carrying out an import


def _carry_out(ctx: Context, job: dict, at: int) -> None:
    """Upsert every file's rows; rows that cannot be written become errors."""
    files = ctx.store.import_files(job["id"])
    operations = job["request"].get("importOperations") or {}
    counters = {"TOTAL_ROWS": 0, "CREATED_OBJECTS": 0, "UPDATED_OBJECTS": 0}
    found_errors: list[dict] = []
    for spec in job["request"]["files"]:
        name = spec["fileName"]
        reader = _FileImport(ctx, job, spec, files[name], at)
        operation = operations.get(reader.kind.type_id, "UPSERT")
        reader.run(operation)
        counters["TOTAL_ROWS"] += reader.rows
        counters["CREATED_OBJECTS"] += reader.created
        counters["UPDATED_OBJECTS"] += reader.updated
        found_errors += reader.errors
    counters["ERRORS"] = len(found_errors)
    job["counters"] = counters
    ctx.store.add_import_errors(job["id"], found_errors)


class _FileImport:
    def __init__(self, ctx: Context, job: dict, spec: dict, text: str, at: int):
        self.ctx, self.job, self.spec, self.at = ctx, job, spec, at
        self.file_id = job["fileIds"].get(spec["fileName"], "")
        page = spec["fileImportPage"]
        self.has_header = page.get("hasHeader", True)
        self.mappings = page["columnMappings"]
        self.kind = self._kind()
        self.definitions = ctx.store.definitions(self.kind)
        self.key = self._key_property()
        self.lines = list(csv.reader(io.StringIO(text)))
        self.rows = self.created = self.updated = 0
        self.errors: list[dict] = []

    def _kind(self) -> ObjectKind:
        ids = {str(m.get("columnObjectTypeId")) for m in self.mappings}
        kinds = {find_kind(type_id) for type_id in ids}
        if len(kinds) != 1 or None in kinds:
            raise ImportFailed(
                f"{self.spec['fileName']}: the sandbox imports one object type per "
                f"file, deals (0-3) or line items (0-8); this maps {sorted(ids)}"
            )
        (kind,) = kinds
        assert kind is not None
        return kind

    def _key_property(self) -> str | None:
        for mapping in self.mappings:
            name = mapping.get("propertyName")
            if name not in self.definitions:
                raise ImportFailed(f"Property {name!r} does not exist")
        for mapping in self.mappings:
            name = mapping.get("propertyName")
            if mapping.get("columnType") == "HUBSPOT_ALTERNATE_ID":
                if not self.definitions[name].unique:
                    raise ImportFailed(
                        f"{name} is not a unique property and cannot identify records"
                    )
                return name
        return None

    def run(self, operation: str) -> None:
        if operation != "CREATE" and self.key is None:
            raise ImportFailed(
                f"{operation} needs a column of type HUBSPOT_ALTERNATE_ID"
            )
        header = self.lines[0] if self.has_header and self.lines else None
        columns = self._columns(header)
        data = self.lines[1:] if header is not None else self.lines
        first_line = 2 if header is not None else 1
        planner = Planner(self.ctx, self.kind, Source("IMPORT", self.job["id"]))
        plans: list[Plan] = []
        for offset, row in enumerate(data):
            if not any(cell.strip() for cell in row):
                continue
            self.rows += 1
            plan = self._plan(planner, first_line + offset, row, columns, operation)
            if plan is not None:
                plans.append(plan)
        planner.apply(plans)
        self.created = sum(plan.existing is None for plan in plans)
        self.updated = len(plans) - self.created

    def _columns(self, header: list[str] | None) -> list[tuple[int, str]]:
        """(column index, property name) of every mapped column."""
        columns = []
        for number, mapping in enumerate(self.mappings):
            name = mapping.get("columnName")
            if header is None:
                index = number
            elif name in header:
                index = header.index(name)
            else:
                raise ImportFailed(f"No column {name!r} in {self.spec['fileName']}")
            columns.append((index, mapping["propertyName"]))
        return columns

    def _plan(
        self,
        planner: Planner,
        line: int,
        row: list[str],
        columns: list[tuple[int, str]],
        operation: str,
    ) -> Plan | None:
        width = len(self.lines[0]) if self.lines else 0
        if len(row) != width:
            message = f"Expected {width} columns, found {len(row)}"
            return self._fail(line, row, "INCORRECT_NUMBER_OF_COLUMNS", message, None)
        values = {name: row[index] for index, name in columns if row[index] != ""}
        existing = None
        if self.key is not None and values.get(self.key):
            holder = self.ctx.store.holders(self.kind, self.key, [values[self.key]])
            object_id = holder.get(values[self.key])
            existing = self.ctx.store.get(self.kind, object_id) if object_id else None
        if existing is not None and operation == "CREATE":
            message = f"A record already has {self.key} {values[self.key]}"
            return self._fail(
                line, row, "DUPLICATE_UNIQUE_PROPERTY_VALUE", message, values[self.key]
            )
        if existing is None and operation == "UPDATE":
            return self._fail(line, row, "UNKNOWN_ERROR", "No record to update", None)
        try:
            return planner.plan(line, {"properties": values}, existing)
        except InputFailure as failure:
            return self._refused(line, row, values, failure)

    def _refused(
        self, line: int, row: list[str], values: dict, failure: InputFailure
    ) -> None:
        detail = failure.details[0] if failure.details else {}
        names = (detail.get("context") or {}).get("propertyName") or [""]
        code = str(detail.get("code") or failure.category)
        error_type = ERROR_TYPES.get(code, "UNKNOWN_ERROR")
        if code == "INVALID_LONG":
            definition = self.definitions.get(names[0])
            dated = definition is not None and definition.type in ("date", "datetime")
            error_type = "COULD_NOT_PARSE_DATE" if dated else "COULD_NOT_PARSE_NUMBER"
        message = str(detail.get("message") or failure.message)
        self._fail(line, row, error_type, message, values.get(names[0]), names[0])

    def _fail(
        self,
        line: int,
        row: list[str],
        error_type: str,
        message: str,
        invalid: str | None,
        property_name: str = "",
    ) -> None:
        error = _error(self.job, self.at, error_type, message, line, row)
        error["sourceData"]["fileId"] = self.file_id
        error["objectType"] = self.kind.label
        error["objectTypeId"] = self.kind.type_id
        if invalid is not None:
            error["invalidValue"] = invalid
        if property_name:
            error["extraContext"] = property_name
            names = [m.get("propertyName") for m in self.mappings]
            if property_name in names:
                error["knownColumnNumber"] = names.index(property_name)
        self.errors.append(error)
        return None


def _error(
    job: dict, at: int, error_type: str, message: str, line: int, row: list[str]
) -> dict:
    return {
        "id": f"{job['id']}-{line}",
        "createdAt": at,
        "errorType": error_type,
        "errorMessage": message,
        "sourceData": {
            "lineNumber": line,
            "rowData": list(row),
            "additionalRowData": [],
            "fileId": "",
            "containsEncryptedProperties": False,
        },
    }
