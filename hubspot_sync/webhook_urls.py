"""The endpoint HubSpot posts webhook batches to (hubspot_sync.webhooks)."""

urlpatterns: list = []
