"""URLs of the category lists and their CSV exports (reconcile.views.lists)."""

urlpatterns: list = []
