"""URLs of the asynchronous jobs page (HubSpot imports): reconcile.views.jobs."""

urlpatterns: list = []
