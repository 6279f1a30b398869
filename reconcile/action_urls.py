"""URLs of the retry, resync and sweep actions and the audit log (reconcile.views.actions)."""

from django.urls import path

from reconcile.views import actions

urlpatterns = [
    path("actions/retry/", actions.retry, name="retry-preview"),
    path("actions/resync/", actions.resync, name="resync-preview"),
    path("actions/sweep/", actions.sweep, name="sweep-preview"),
    path("audit/", actions.audit_list, name="audit-list"),
]
