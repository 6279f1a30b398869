from django.apps import AppConfig


class ReconcileConfig(AppConfig):
    name = "reconcile"
    verbose_name = "Store and reconciliation"

    def ready(self) -> None:
        from reconcile import checks  # noqa: F401  (registers the system checks)
