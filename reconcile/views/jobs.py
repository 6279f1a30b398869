"""The jobs page: every HubSpot import with its state and polls, and a cancel
for those that have not ended (operators; a confirmation, then a POST)."""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_safe

from hubspot_sync import imports, tasks
from hubspot_sync.models import ImportJob
from reconcile import roles
from reconcile.models import AuditEntry

JOBS_PER_PAGE = 50
CANCEL_PERMISSION = "reconcile.retry_items"
# The audit log's name for a cancel; the log shows it as CANCEL_LABEL.
CANCEL = "cancel_import"
CANCEL_LABEL = "Import cancellation"
ACTIVE = (ImportJob.State.QUEUED, *imports.WAITING)
# A poll this late means no worker is polling the job: it is stuck.
OVERDUE = timedelta(minutes=2)


@login_required
@require_safe
def job_list(request: HttpRequest) -> HttpResponse:
    return _page(request, confirm=None)


@login_required
@require_http_methods(["GET", "POST"])
def job_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob, pk=pk)
    if not request.user.has_perm(CANCEL_PERMISSION):
        if request.method == "POST":
            # A refused confirmation is audited as a refused retry, resync or
            # sweep is: the log shows who tried, not only who succeeded.
            role = roles.role_of(request.user)
            _audit(
                request,
                job,
                AuditEntry.Status.REFUSED,
                f"Refused: the {role} role may not cancel imports.",
            )
        return render(
            request,
            "reconcile/job_list.html",
            {"forbidden": True, "page": None, "rows": []},
            status=403,
        )
    if request.method == "GET":
        if not _active(job):
            # Nothing to stop: say so instead of offering a button.
            messages.info(
                request,
                f"Import job {job.pk} has ended already "
                f"({job.get_state_display().lower()}); there is nothing to cancel.",
            )
            return redirect("reconcile:job-list")
        return _page(request, confirm=job)

    canceled = job.finished is None and tasks.cancel_import(
        job.pk, request.user.get_username()
    )
    job.refresh_from_db()
    _audit(
        request,
        job,
        AuditEntry.Status.DONE if canceled else AuditEntry.Status.REFUSED,
        (
            f"Canceled; its {len(job.item_ids):,} items go by batch on the next sync."
            if canceled
            else f"Not canceled: the job is {job.get_state_display().lower()}."
        ),
    )
    if canceled:
        messages.success(request, f"Import job {job.pk} canceled.")
    else:
        messages.warning(
            request, f"Import job {job.pk} had ended already ({job.state})."
        )
    return redirect("reconcile:job-list")


def _audit(request: HttpRequest, job: ImportJob, status: str, result: str) -> None:
    """One audit entry per cancel confirmation, done or refused, named alike so
    that the audit log's filter finds them all."""
    AuditEntry.objects.create(
        user=request.user,
        username=request.user.get_username(),
        action=CANCEL,
        target=f"Import job {job.pk} (HubSpot import {job.hubspot_id or 'not started'})",
        parameters={"job": job.pk, "hubspot_id": job.hubspot_id},
        status=status,
        result=result,
        run_id=job.run_id,
    )


def _page(request: HttpRequest, confirm: ImportJob | None) -> HttpResponse:
    jobs = ImportJob.objects.select_related("run").defer("item_ids")
    page = Paginator(jobs.order_by("-pk"), JOBS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    now = timezone.now()
    rows = [_row(job, now) for job in page]
    context = {
        "page": page,
        "rows": rows,
        "confirm": confirm,
        "may_cancel": request.user.has_perm(CANCEL_PERMISSION),
        "current": "job-list",
    }
    return render(request, "reconcile/job_list.html", context)


def _active(job: ImportJob) -> bool:
    """HubSpot has not ended the job (and Tally has not settled it)."""
    return job.finished is None and job.state in ACTIVE


def _row(job: ImportJob, now) -> dict:
    active = _active(job)
    overdue = bool(active and job.next_poll and now - job.next_poll > OVERDUE)
    return {
        "job": job,
        "age": now - job.created,
        "active": active,
        "stuck": overdue or bool(active and job.deadline and now > job.deadline),
        # HubSpot is done, Tally is still reading the errors and the items back.
        "verifying": job.finished is None and job.state not in ACTIVE,
    }
