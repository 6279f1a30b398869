"""URLs of the item lists, the error codes and their CSV exports (reconcile.views.lists)."""

from django.urls import path

from reconcile.views import lists

urlpatterns = [
    path("items/", lists.item_list, name="item-list"),
    path("items/export.csv", lists.item_export, name="item-export"),
    path("lists/<slug:slug>/", lists.category_list, name="category-list"),
    path("lists/<slug:slug>/export.csv", lists.category_export, name="category-export"),
    path("errors/", lists.error_list, name="error-list"),
]
