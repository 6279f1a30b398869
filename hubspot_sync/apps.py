from django.apps import AppConfig


class HubspotSyncConfig(AppConfig):
    name = "hubspot_sync"
    verbose_name = "HubSpot sync"
