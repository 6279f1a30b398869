from django.urls import include, path

from reconcile.views import pages

app_name = "reconcile"

urlpatterns = [
    path("", pages.overview, name="overview"),
    path("runs/", pages.run_list, name="run-list"),
    path("runs/<int:pk>/", pages.run_detail, name="run-detail"),
    path("sweeps/", pages.sweep_list, name="sweep-list"),
    path("webhooks/", pages.webhook_list, name="webhook-list"),
    path("calls/<int:pk>/", pages.call_detail, name="call-detail"),
    path("orders/<int:pk>/", pages.order_detail, name="order-detail"),
    path("", include("reconcile.list_urls")),
    path("", include("reconcile.action_urls")),
    path("", include("reconcile.job_urls")),
]
