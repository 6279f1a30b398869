from django.urls import path

from reconcile import views

app_name = "reconcile"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("runs/", views.run_list, name="run-list"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("calls/<int:pk>/", views.call_detail, name="call-detail"),
    path("items/", views.item_list, name="item-list"),
    path("orders/<int:pk>/", views.order_detail, name="order-detail"),
]
