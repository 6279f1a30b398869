"""What Tally knows about its work in HubSpot: items, runs, batches, calls.

Every store record pushed to HubSpot is a ``SyncItem`` with one current state
and a history of ``ItemOutcome`` rows, one per time it was sent or checked.
Every HTTP call is an ``ApiCall`` row, so that the dashboard can show exactly
what HubSpot answered.
"""

from django.db import models


class ObjectType(models.TextChoices):
    DEAL = "deals", "Deal"
    LINE_ITEM = "line_items", "Line item"


class ItemState(models.TextChoices):
    PENDING = "pending", "Pending"
    VERIFIED = "verified", "Verified"
    MISMATCH = "mismatch", "Mismatch"
    FAILED = "failed", "Failed"
    UNREPORTED_SKIP = "unreported_skip", "Unreported skip"
    NOT_FOUND = "not_found", "Not found"
    TRANSIENT = "transient", "Transient"
    UNKNOWN = "unknown", "Unknown"
    DUPLICATE = "duplicate", "Duplicate"
    EXCLUDED = "excluded", "Not synced by design"


# States that a sync run picks up again without anyone pressing retry. Sending
# again is safe because every write is an upsert on the store key: an unknown
# write that did land, or a skipped one, is updated, never duplicated. The
# outcome history keeps the skip visible.
SENDABLE_STATES = (
    ItemState.PENDING,
    ItemState.TRANSIENT,
    ItemState.UNKNOWN,
    ItemState.UNREPORTED_SKIP,
)
# States that need a person's decision first (sync_hubspot --retry STATE).
RETRYABLE_STATES = (
    ItemState.FAILED,
    ItemState.MISMATCH,
    ItemState.NOT_FOUND,
    ItemState.DUPLICATE,
)


class Outcome(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    VERIFIED = "verified", "Verified"
    MISMATCH = "mismatch", "Mismatch"
    FAILED = "failed", "Failed"
    UNREPORTED_SKIP = "unreported_skip", "Unreported skip"
    NOT_FOUND = "not_found", "Not found"
    TRANSIENT = "transient", "Transient"
    UNKNOWN = "unknown", "Unknown"
    DUPLICATE = "duplicate", "Duplicate"
    ASSOCIATED = "associated", "Associated"


class Association(models.TextChoices):
    NOT_APPLICABLE = "n/a", "Not applicable"
    PENDING = "pending", "Pending"
    LINKED = "linked", "Linked"
    FAILED = "failed", "Failed"


class SyncRun(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Phase(models.TextChoices):
        PLANNING = "planning", "Planning"
        OBJECTS = "objects", "Deals and line items"
        ASSOCIATIONS = "associations", "Associations"
        FINISHED = "finished", "Finished"

    state = models.CharField(max_length=16, choices=State, default=State.QUEUED)
    phase = models.CharField(max_length=16, choices=Phase, default=Phase.PLANNING)
    trigger = models.CharField(max_length=32, default="command")
    requested_by = models.CharField(max_length=150, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    items_total = models.PositiveIntegerField(default=0)
    batches_total = models.PositiveIntegerField(default=0)
    batches_done = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    imports = models.BooleanField(
        default=False,
        help_text="Send new items through HubSpot imports whatever their number",
    )

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.state})"

    @property
    def duration(self):
        if self.started and self.finished:
            return self.finished - self.started
        return None


class SyncBatch(models.Model):
    class Kind(models.TextChoices):
        DEAL_UPSERT = "deal_upsert", "Deal upsert"
        LINE_ITEM_UPSERT = "line_item_upsert", "Line item upsert"
        ASSOCIATION = "association", "Line item to deal associations"
        IMPORT = "import", "HubSpot import"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="batches")
    kind = models.CharField(max_length=32, choices=Kind)
    state = models.CharField(max_length=16, choices=State, default=State.QUEUED)
    item_ids = models.JSONField(default=list)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    claims = models.PositiveSmallIntegerField(
        default=0, help_text="How often a worker took it up (more after a crash)"
    )
    # How often recover_stalled handed it out again, and when it last did:
    # each time it waits twice as long before the next, so that batches
    # merely waiting in a long queue are not queued again every minute.
    redispatches = models.PositiveSmallIntegerField(default=0)
    redispatched = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["state", "started"])]

    def __str__(self) -> str:
        return f"Batch {self.pk} {self.kind} ({len(self.item_ids)} items)"


class SyncItem(models.Model):
    object_type = models.CharField(max_length=16, choices=ObjectType)
    key = models.CharField(max_length=200, unique=True, help_text="The store key")
    parent_key = models.CharField(max_length=200, blank=True, db_index=True)
    properties = models.JSONField(default=dict)
    fingerprint = models.CharField(max_length=64)
    hubspot_id = models.CharField(max_length=32, blank=True, db_index=True)
    state = models.CharField(
        max_length=16, choices=ItemState, default=ItemState.PENDING
    )
    state_changed = models.DateTimeField(auto_now_add=True)
    association = models.CharField(
        max_length=8, choices=Association, default=Association.NOT_APPLICABLE
    )
    associated_to = models.CharField(max_length=32, blank=True)
    reason_code = models.CharField(max_length=64, blank=True)
    reason = models.TextField(blank=True)
    next_step = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The batch that may send this item until lease_until; two workers never
    # send one item at once, and a dead worker's lease runs out by itself.
    lease_batch = models.ForeignKey(
        "SyncBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lease_until = models.DateTimeField(null=True, blank=True, db_index=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["object_type", "state"]),
            # The items list shows the most recently changed first; with the
            # id, a page's ids are read from the index alone.
            models.Index(fields=["state_changed", "id"]),
            # A list of one state, newest first: counted as a range, read
            # in order without a sort.
            models.Index(fields=["state", "state_changed", "id"]),
            # The errors page and the sort and search by reason code.
            models.Index(fields=["reason_code"]),
            # The overview counts the few line items not linked to their deal.
            models.Index(fields=["object_type", "association"]),
        ]

    def __str__(self) -> str:
        return self.key


class ApiCall(models.Model):
    run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    batch = models.ForeignKey(
        SyncBatch,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="calls",
    )
    created = models.DateTimeField(auto_now_add=True)
    method = models.CharField(max_length=8)
    endpoint = models.CharField(max_length=300)
    attempt = models.PositiveSmallIntegerField(default=1)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    correlation_id = models.CharField(max_length=64, blank=True)
    rate_limit = models.JSONField(default=dict, blank=True)
    request_body = models.TextField(blank=True)
    response_body = models.TextField(blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["pk"]
        # The dashboard counts today's calls against the daily budget.
        indexes = [models.Index(fields=["created"])]

    def __str__(self) -> str:
        return f"{self.method} {self.endpoint} -> {self.status or self.error}"


class ItemOutcome(models.Model):
    item = models.ForeignKey(
        SyncItem, on_delete=models.CASCADE, related_name="outcomes"
    )
    run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    batch = models.ForeignKey(
        SyncBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_call = models.ForeignKey(
        ApiCall, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outcome = models.CharField(max_length=16, choices=Outcome)
    detail = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["outcome", "item"])]

    def __str__(self) -> str:
        return f"{self.item_id}: {self.outcome}"


class RateBucket(models.Model):
    """One HubSpot rate limit shared by every worker (embedded mode).

    The row is also the lock that serialises grants; ``RateGrant`` rows are
    the requests let through in the current window.
    """

    name = models.CharField(max_length=32, unique=True)
    max_requests = models.PositiveIntegerField()
    interval_ms = models.PositiveIntegerField()
    blocked_until = models.FloatField(default=0, help_text="Epoch seconds")
    daily_blocked_until = models.FloatField(default=0, help_text="Epoch seconds")

    def __str__(self) -> str:
        return f"{self.name}: {self.max_requests} per {self.interval_ms} ms"


class RateGrant(models.Model):
    bucket = models.ForeignKey(RateBucket, on_delete=models.CASCADE, related_name="+")
    at = models.FloatField(db_index=True, help_text="Epoch seconds")

    def __str__(self) -> str:
        return f"{self.bucket_id}@{self.at}"


class WebhookEvent(models.Model):
    """One event HubSpot posted to /hubspot/webhooks/, stored once.

    HubSpot sends duplicates (retries, at-least-once delivery) and says
    ``eventId`` alone is not guaranteed to be unique, so an event is
    identified by ``dedupe_key``: a hash of the event body without
    ``attemptNumber``. A retry of the same event has the same key.
    """

    class State(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    dedupe_key = models.CharField(max_length=64, unique=True)
    event_id = models.BigIntegerField(null=True, blank=True)
    subscription_id = models.BigIntegerField(null=True, blank=True)
    portal_id = models.BigIntegerField(null=True, blank=True)
    subscription_type = models.CharField(max_length=64, blank=True)
    object_type = models.CharField(max_length=16, choices=ObjectType, blank=True)
    object_id = models.CharField(max_length=32, blank=True, db_index=True)
    property_name = models.CharField(max_length=200, blank=True)
    property_value = models.TextField(blank=True)
    change_source = models.CharField(max_length=64, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    attempt_number = models.PositiveSmallIntegerField(default=0)
    payload = models.JSONField(default=dict)
    received = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=16, choices=State, default=State.RECEIVED)
    processed_at = models.DateTimeField(null=True, blank=True)
    detail = models.TextField(blank=True)
    # Processing tries that failed, and when the retry schedule takes a
    # failed event again (None: not again, the tries are used up).
    tries = models.PositiveSmallIntegerField(default=0)
    next_try = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        indexes = [
            models.Index(fields=["state", "received"]),
            models.Index(fields=["state", "next_try"]),
        ]

    def __str__(self) -> str:
        return f"{self.subscription_type} {self.object_id} ({self.state})"


class ImportJob(models.Model):
    """One HubSpot import: a CSV of one object type, polled until it ends.

    ``item_ids`` are the items in the file's row order (row 1 is the first
    after the header). HubSpot's states are kept as it names them; QUEUED
    (not posted yet) and PAST_DEADLINE are Tally's own.
    """

    class State(models.TextChoices):
        QUEUED = "QUEUED", "Queued in Tally"
        STARTED = "STARTED", "Started"
        PROCESSING = "PROCESSING", "Processing"
        DEFERRED = "DEFERRED", "Deferred (three imports running)"
        DONE = "DONE", "Done"
        FAILED = "FAILED", "Failed"
        CANCELED = "CANCELED", "Canceled"
        REVERTED = "REVERTED", "Reverted"
        PAST_DEADLINE = "PAST_DEADLINE", "Past its deadline"

    run = models.ForeignKey(
        SyncRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="import_jobs",
    )
    batch = models.OneToOneField(
        SyncBatch,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="import_job",
    )
    object_type = models.CharField(max_length=16, choices=ObjectType)
    item_ids = models.JSONField(default=list)
    hubspot_id = models.CharField(max_length=32, blank=True, db_index=True)
    state = models.CharField(max_length=16, choices=State, default=State.QUEUED)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    started = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    polls = models.PositiveIntegerField(default=0)
    last_poll = models.DateTimeField(null=True, blank=True)
    next_poll = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(
        null=True, blank=True, help_text="When every item had its outcome"
    )
    rows = models.PositiveIntegerField(default=0)
    objects_created = models.PositiveIntegerField(default=0)
    objects_updated = models.PositiveIntegerField(default=0)
    error_rows = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    canceled_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-pk"]
        indexes = [models.Index(fields=["state", "next_poll"])]

    def __str__(self) -> str:
        return f"Import job {self.pk} ({self.state})"

    @property
    def active(self) -> bool:
        return self.finished is None
