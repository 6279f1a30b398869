"""The endpoint HubSpot posts webhook batches to (hubspot_sync.webhooks)."""

from django.urls import path

from hubspot_sync import webhooks

urlpatterns = [
    path("webhooks/", webhooks.receive, name="hubspot-webhooks"),
]
