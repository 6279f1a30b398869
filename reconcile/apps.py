from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ReconcileConfig(AppConfig):
    name = "reconcile"
    verbose_name = "Store and reconciliation"

    def ready(self) -> None:
        from hubspot_sync.models import SyncRun
        from hubspot_sync.signals import run_finished
        from reconcile import checks  # noqa: F401  (registers the system checks)
        from reconcile.roles import ensure_roles
        from reconcile.sweep import recheck_after_run
        from reconcile.webhook_checks import connect as connect_webhook_checks

        # After auth's and this app's permissions exist: post_migrate runs for
        # every app, and this app's signal comes after auth's in INSTALLED_APPS.
        post_migrate.connect(ensure_roles, sender=self)
        run_finished.connect(recheck_after_run, sender=SyncRun)
        connect_webhook_checks()
