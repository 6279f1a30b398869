"""The store's side: stores, orders and their line items, as imported."""

from decimal import Decimal

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
        indexes = [models.Index(fields=["placed_at"])]

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
