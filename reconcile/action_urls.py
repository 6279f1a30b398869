"""URLs of the retry and resync actions and the audit log (reconcile.views.actions)."""

urlpatterns: list = []
