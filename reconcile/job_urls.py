"""URLs of the asynchronous jobs page (HubSpot imports): reconcile.views.jobs."""

from django.urls import path

from reconcile.views import jobs

urlpatterns = [
    path("jobs/", jobs.job_list, name="job-list"),
    path("jobs/<int:pk>/cancel/", jobs.job_cancel, name="job-cancel"),
]
