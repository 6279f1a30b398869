from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("", include("reconcile.dashboard_urls")),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # HubSpot's webhook deliveries (hubspot_sync.webhook_urls): no login, a
    # v3 signature instead.
    path("hubspot/", include("hubspot_sync.webhook_urls")),
]
