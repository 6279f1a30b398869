"""The store's side: stores, orders and their line items, as imported; and what
reconciliation found, the trend of its categories and the audit log."""

from decimal import Decimal

from django.conf import settings
from django.db import models


class Store(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=50, unique=True)
    currency = models.CharField(max_length=3, default="GBP")
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Order(models.Model):
    class Kind(models.TextChoices):
        SALE = "sale", "Sale"
        # Invoice numbers starting with C: a cancellation or refund.
        CREDIT_NOTE = "credit_note", "Credit note"
        # Negative quantities outside a C invoice, no customer, price 0:
        # stock written off in the warehouse, not a sale. Kept, never synced.
        STOCK_ADJUSTMENT = "stock_adjustment", "Stock adjustment"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="orders")
    number = models.CharField(max_length=32)
    kind = models.CharField(max_length=20, choices=Kind, default=Kind.SALE)
    customer_id = models.CharField(max_length=32, blank=True)
    country = models.CharField(max_length=64, blank=True)
    placed_at = models.DateTimeField()
    currency = models.CharField(max_length=3)
    sync_item = models.OneToOneField(
        "hubspot_sync.SyncItem",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="order",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["placed_at", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "number"], name="order_number_unique"
            )
        ]
        indexes = [
            models.Index(fields=["placed_at"]),
            # The search by order number, in any store.
            models.Index(fields=["number"]),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def store_key(self) -> str:
        return f"{self.store.slug}:{self.number}"


class LineItem(models.Model):
    class Kind(models.TextChoices):
        PRODUCT = "product", "Product"
        POSTAGE = "postage", "Postage or carriage"
        FEE = "fee", "Fee or charge"
        DISCOUNT = "discount", "Discount"
        MANUAL = "manual", "Manual line"
        VOUCHER = "voucher", "Gift voucher"
        SAMPLE = "sample", "Sample"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(help_text="1-based place in the order")
    sku = models.CharField(max_length=64, help_text="Stripped, upper case")
    description = models.CharField(max_length=300, blank=True)
    quantity = models.IntegerField(help_text="As in the store: negative on credits")
    unit_price = models.DecimalField(max_digits=14, decimal_places=3)
    kind = models.CharField(max_length=10, choices=Kind, default=Kind.PRODUCT)
    source_row = models.PositiveIntegerField(
        null=True, blank=True, help_text="Line number in the imported file"
    )
    sync_item = models.OneToOneField(
        "hubspot_sync.SyncItem",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="line_item",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "position"], name="line_position_unique"
            )
        ]
        indexes = [models.Index(fields=["sku"])]

    def __str__(self) -> str:
        return f"{self.order.number} #{self.position} {self.sku}"

    @property
    def store_key(self) -> str:
        return f"{self.order.store_key}:{self.position}"

    @property
    def amount(self) -> Decimal:
        return self.quantity * self.unit_price


class Sweep(models.Model):
    """One reconciliation of the store against HubSpot (scheduled or on demand).

    Progress is kept on the row so that the overview can draw a bar and an
    estimate of the time left while workers go through it.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    state = models.CharField(max_length=16, choices=State, default=State.QUEUED)
    trigger = models.CharField(max_length=32, default="schedule")
    requested_by = models.CharField(max_length=150, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    items_total = models.PositiveIntegerField(default=0)
    items_checked = models.PositiveIntegerField(default=0)
    calls = models.PositiveIntegerField(default=0)
    counts = models.JSONField(
        default=dict, blank=True, help_text="Items per category when it finished"
    )
    scope = models.JSONField(
        default=dict,
        blank=True,
        help_text='Empty for a full sweep; {"orders": [ids]} re-checks only those',
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"Sweep {self.pk} ({self.state})"

    @property
    def scoped_orders(self) -> list[int] | None:
        """The orders a targeted re-check covers; None for a full sweep."""
        orders = (self.scope or {}).get("orders")
        return list(orders) if orders is not None else None


class Orphan(models.Model):
    """A HubSpot record carrying a Tally store key that the store does not know."""

    object_type = models.CharField(max_length=16)
    hubspot_id = models.CharField(max_length=32)
    store_key = models.CharField(max_length=200, db_index=True)
    properties = models.JSONField(default=dict, blank=True)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)
    sweep = models.ForeignKey(
        Sweep, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["store_key", "hubspot_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["object_type", "hubspot_id"], name="orphan_record_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.object_type} {self.hubspot_id} ({self.store_key})"


class OrderProblem(models.Model):
    """An order whose deal and line items in HubSpot do not add up.

    Each sweep replaces the problems of the orders it checked.
    """

    class Code(models.TextChoices):
        LINE_NOT_ASSOCIATED = "LINE_NOT_ASSOCIATED", "Line item not on its deal"
        LINE_COUNT = "LINE_COUNT", "Different number of line items"
        AMOUNT_SUM = "AMOUNT_SUM", "Line amounts do not add up to the deal amount"
        CURRENCY = "CURRENCY", "Different currency"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="problems")
    code = models.CharField(max_length=32, choices=Code)
    store_value = models.CharField(max_length=200, blank=True)
    hubspot_value = models.CharField(max_length=200, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    found = models.DateTimeField(auto_now_add=True)
    sweep = models.ForeignKey(
        Sweep, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    NEXT_STEPS = {
        Code.LINE_NOT_ASSOCIATED: (
            "Retry the line, or resync the order: Tally links each line to its "
            "deal again. If someone moved the line on purpose, fix the order in "
            "the store."
        ),
        Code.LINE_COUNT: (
            "Look at the deal in HubSpot: lines added or removed there differ "
            "from the store. Resync the order to put the store's lines back."
        ),
        Code.AMOUNT_SUM: (
            "Compare the deal amount and its lines in HubSpot with the order page; "
            "resync the order to write the store's amounts back."
        ),
        Code.CURRENCY: (
            "Someone changed a currency in HubSpot; resync the order to write the "
            "store's currency back, or fix the store if HubSpot is right."
        ),
    }

    class Meta:
        ordering = ["-found", "pk"]
        indexes = [models.Index(fields=["code"])]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.code}"

    @property
    def next_step(self) -> str:
        return self.NEXT_STEPS.get(self.code, "")


class CategorySnapshot(models.Model):
    """Item counts per reconciliation category at one moment: the overview's trend."""

    taken = models.DateTimeField(auto_now_add=True, db_index=True)
    counts = models.JSONField(default=dict)

    class Meta:
        ordering = ["taken"]

    def __str__(self) -> str:
        return f"Snapshot {self.taken:%Y-%m-%d %H:%M}"


class AuditEntry(models.Model):
    """Who asked Tally to do what, when, and what came of it. Never edited."""

    class Status(models.TextChoices):
        DONE = "done", "Done"
        REFUSED = "refused", "Refused"
        FAILED = "failed", "Failed"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    username = models.CharField(max_length=150, help_text="Kept if the user goes")
    action = models.CharField(max_length=32)
    target = models.CharField(max_length=300, help_text="What it was applied to")
    parameters = models.JSONField(default=dict, blank=True)
    preview = models.JSONField(
        default=dict, blank=True, help_text="What the confirmation page showed"
    )
    status = models.CharField(max_length=16, choices=Status, default=Status.DONE)
    result = models.TextField(blank=True)
    run_id = models.PositiveIntegerField(null=True, blank=True)
    sweep_id = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name_plural = "audit entries"
        permissions = [
            ("retry_items", "Can retry items"),
            ("resync_orders", "Can resync orders, date ranges and stores"),
            ("run_sweep", "Can start a reconciliation sweep"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.username} {self.action}"
