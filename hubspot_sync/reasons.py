"""Plain-language reasons and next steps for what HubSpot answered."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    code: str
    text: str
    next_step: str


RETRY_NEXT_RUN = "Nothing to do: the next sync run sends it again."
FIX_IN_STORE = "Fix the order in the store and import it again; the next sync sends it."

_BY_CODE = {
    "PROPERTY_DOESNT_EXIST": (
        "HubSpot does not know one of the properties Tally writes.",
        "Run `python manage.py hubspot_setup`, then sync again.",
    ),
    "INVALID_INTEGER": (
        "A number HubSpot expected is not a valid number.",
        FIX_IN_STORE,
    ),
    "INVALID_LONG": ("A number HubSpot expected is not a valid number.", FIX_IN_STORE),
    "NEGATIVE_VALUE": ("HubSpot refuses negative prices and amounts.", FIX_IN_STORE),
    "INVALID_DATE": ("HubSpot takes dates only at midnight UTC.", FIX_IN_STORE),
    "READ_ONLY_VALUE": (
        "Tally wrote a property that HubSpot treats as read-only.",
        "Report it: Tally's mapping must stop writing that property.",
    ),
    "DUPLICATE_UNIQUE_PROPERTY_VALUE": (
        "Another HubSpot record already holds this store key.",
        "Merge or delete the duplicate in HubSpot, then run `python manage.py sync_hubspot --retry failed`.",
    ),
    "INVALID_OPTION": (
        "A value is not one of the options the HubSpot property allows.",
        "Add the option in HubSpot or fix the store value, then run `python manage.py sync_hubspot --retry failed`.",
    ),
}
# Per-row errors of HubSpot imports (errorType, api-facts §6).
_BY_CODE |= {
    "COULD_NOT_PARSE_NUMBER": _BY_CODE["INVALID_INTEGER"],
    "COULD_NOT_PARSE_DATE": (
        "HubSpot could not read a date in the import file.",
        FIX_IN_STORE,
    ),
    "INVALID_ENUMERATION_OPTION": _BY_CODE["INVALID_OPTION"],
    "INCORRECT_NUMBER_OF_COLUMNS": (
        "A row of the import file had the wrong number of columns.",
        "Report it: Tally wrote a malformed import file. The next sync sends "
        "the item through the batch API after `python manage.py sync_hubspot "
        "--retry failed`.",
    ),
}
_BY_CATEGORY = {
    "VALIDATION_ERROR": ("HubSpot refused a value as invalid.", FIX_IN_STORE),
    "CONFLICT": (
        "Another HubSpot record already holds this store key.",
        "Merge or delete the duplicate in HubSpot, then run `python manage.py sync_hubspot --retry failed`.",
    ),
    "OBJECT_NOT_FOUND": (
        "The record no longer exists in HubSpot.",
        "Check whether it was deleted or merged in HubSpot, then retry it (the "
        "Retry button, or `python manage.py sync_hubspot --retry not_found`).",
    ),
    "INVALID_AUTHENTICATION": (
        "HubSpot did not accept Tally's access token.",
        "Set a valid HUBSPOT_ACCESS_TOKEN, then run `python manage.py sync_hubspot --retry failed`.",
    ),
    "MISSING_SCOPES": (
        "The HubSpot app lacks a scope Tally needs.",
        "Grant the private app the CRM deal and line item scopes, then run `python manage.py sync_hubspot --retry failed`.",
    ),
    "DAILY_LIMIT": (
        "HubSpot's daily API limit for this account is used up.",
        "Nothing to do: the next sync after the daily reset sends it.",
    ),
}


def for_error(
    category: str, code: str, message: str, property_name: str = ""
) -> Reason:
    """A plain-language reason for one of HubSpot's errors, with its own words."""
    text, next_step = _BY_CODE.get(code) or _BY_CATEGORY.get(
        category,
        (
            "HubSpot refused it.",
            "Read HubSpot's message, fix the cause, then run `python manage.py sync_hubspot --retry failed`.",
        ),
    )
    if "must not be negative" in message or "cannot be negative" in message:
        text, next_step = _BY_CODE["NEGATIVE_VALUE"]
        # An import's row error names no specific code for it: name it here,
        # so that the errors page groups it with the batch path's.
        if code in ("", "UNKNOWN_ERROR"):
            code = "NEGATIVE_VALUE"
    if property_name:
        text = f"{text.rstrip('.')} (property {property_name})."
    return Reason(
        code or category or "ERROR", f"{text} HubSpot said: {message}", next_step
    )


def unknown(message: str) -> Reason:
    return Reason(
        "UNKNOWN",
        f"The write may or may not have reached HubSpot: {message}",
        "Nothing to do: the next sync settles it by a lookup on the store key.",
    )


def transient(message: str) -> Reason:
    return Reason(
        "TRANSIENT",
        f"HubSpot could not be reached or was busy: {message}",
        RETRY_NEXT_RUN,
    )


UNREPORTED_SKIP = Reason(
    "UNREPORTED_SKIP",
    "HubSpot accepted the batch but named this input neither in its results "
    "nor in its errors.",
    "Nothing to do: the next sync sends it again. If it keeps happening, check "
    "the record in HubSpot.",
)
MISMATCH = Reason(
    "MISMATCH",
    "HubSpot holds a value different from the store's.",
    "Compare the values. If the store is right, retry it (the Retry button, or "
    "`python manage.py sync_hubspot --retry mismatch`) to write the store's value "
    "back; if HubSpot is right, fix the order in the store and import it again.",
)
DEAL_NOT_SYNCED = Reason(
    "DEAL_NOT_SYNCED",
    "Its order's deal is not in HubSpot, so the line cannot be linked to it.",
    "Fix the order's deal first; the line is linked on the next run.",
)
ASSOCIATION_UNREPORTED = Reason(
    "ASSOCIATION_UNREPORTED",
    "HubSpot accepted the association batch but did not confirm this link.",
    RETRY_NEXT_RUN,
)
ASSOCIATION_FAILED = Reason(
    "ASSOCIATION_FAILED",
    "HubSpot refused to link the line item to its deal.",
    RETRY_NEXT_RUN,
)
WRITE_NOT_FOUND = Reason(
    "UNREPORTED_SKIP",
    "HubSpot named this input neither in its results nor in its errors, and a "
    "read by store key straight after does not find it: the write did not land.",
    "Nothing to do: the next sync sends it again. If it keeps happening, check "
    "the record in HubSpot.",
)
NOT_FOUND_RECREATE = Reason(
    "NOT_FOUND",
    "The record is gone from HubSpot (deleted, or merged into another).",
    "Nothing to do: the next sync re-creates it from the store "
    "(TALLY_ON_NOT_FOUND=recreate).",
)
NOT_FOUND_WAIT = Reason(
    "NOT_FOUND",
    "The record is gone from HubSpot (deleted, or merged into another).",
    "Check in HubSpot whether that was on purpose; to re-create it, retry it (the "
    "Retry button, or `python manage.py sync_hubspot --retry not_found`; "
    "TALLY_ON_NOT_FOUND=wait).",
)
INTERNAL_ERROR = Reason(
    "INTERNAL_ERROR",
    "Tally hit an internal error while handling this batch (see the worker log).",
    RETRY_NEXT_RUN,
)


# Found by a reconciliation sweep (reconcile/sweep.py).
RETRY_NOT_FOUND = (
    "Retry (the button, or `python manage.py sync_hubspot --retry not_found`)"
)
RECORD_ARCHIVED = Reason(
    "RECORD_ARCHIVED",
    "Someone deleted the record in HubSpot; it is in HubSpot's recycling bin, "
    "where it can be restored for 90 days.",
    "If the deletion was a mistake, restore the record in HubSpot (the next "
    f"sweep finds it again); otherwise {RETRY_NOT_FOUND[0].lower()}{RETRY_NOT_FOUND[1:]} "
    "to create it anew from the store.",
)
RECORD_DELETED = Reason(
    "RECORD_DELETED",
    "The record is gone from HubSpot for good: neither live nor in the recycling bin.",
    f"{RETRY_NOT_FOUND} to create it anew from the store.",
)


def record_merged(survivor_id: str) -> Reason:
    return Reason(
        "RECORD_MERGED",
        f"Someone merged the record into HubSpot record {survivor_id}, which now "
        "holds another store key's values.",
        f"Check record {survivor_id} in HubSpot. If the merge was a mistake, "
        f"{RETRY_NOT_FOUND[0].lower()}{RETRY_NOT_FOUND[1:]} to create the store's "
        "record anew.",
    )


def duplicate_records(record_ids: list[str]) -> Reason:
    return Reason(
        "DUPLICATE_RECORDS",
        f"{len(record_ids)} HubSpot records carry this store key: "
        f"{', '.join(record_ids)}.",
        "Merge them in HubSpot into one record, then run `python manage.py "
        "sync_hubspot --retry duplicate` to write the store's values to it.",
    )
