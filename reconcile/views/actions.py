"""Retry, resync and sweep pages (a GET preview, a POST confirmation), and the
audit log. What each action does is in ``reconcile.actions``; these views
check the person's permission, show the figures and hand over the form."""

import django_filters
import django_tables2 as tables
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods, require_safe
from django_tables2 import RequestConfig

from reconcile import actions, roles
from reconcile.models import AuditEntry, Store
from reconcile.tables import MAX_PER_PAGE, TABLE_TEMPLATE, badge, counted
from reconcile.views import jobs

AUDIT_PER_PAGE = 50
WHAT = {
    actions.RETRY: "Retry",
    actions.RESYNC: "Resync",
    actions.SWEEP: "Reconciliation sweep",
}
# What the audit log names, and filters by: the actions above and import cancels
# (reconcile.views.jobs).
AUDITED = {**WHAT, jobs.CANCEL: jobs.CANCEL_LABEL}
MAY = {
    actions.RETRY: "retry items",
    actions.RESYNC: "resync orders",
    actions.SWEEP: "start a sweep",
}


@login_required
@require_http_methods(["GET", "POST"])
def retry(request: HttpRequest) -> HttpResponse:
    return _action(request, actions.RETRY)


@login_required
@require_http_methods(["GET", "POST"])
def resync(request: HttpRequest) -> HttpResponse:
    return _action(request, actions.RESYNC)


@login_required
@require_http_methods(["GET", "POST"])
def sweep(request: HttpRequest) -> HttpResponse:
    return _action(request, actions.SWEEP)


def _action(request: HttpRequest, action: str) -> HttpResponse:
    """The preview (GET) or the confirmation (POST) of one action."""
    if not request.user.has_perm(actions.PERMISSIONS[action]):
        return _forbidden(request, action)

    if action == actions.RESYNC and request.method == "GET" and not request.GET:
        # Nothing chosen yet: the form that chooses a store and a date range.
        stores = Store.objects.order_by("name")
        return render(
            request, "reconcile/actions/resync_choose.html", {"stores": stores}
        )

    try:
        selection = actions.SELECTIONS[action](request.GET)
    except actions.SelectionError as exc:
        if request.method == "POST":
            actions.refuse(request.user, action, request.GET, str(exc))
        context = {"action": action, "what": WHAT[action], "error": str(exc)}
        return render(request, "reconcile/actions/invalid.html", context, status=400)

    if request.method == "GET":
        return _preview_page(request, selection, actions.preview(selection))
    result = actions.execute(
        selection,
        request.user,
        token=request.POST.get("token", ""),
        seen=request.POST.get("digest", ""),
    )
    return _answer(request, selection, result)


def _answer(request, selection, result: actions.Result) -> HttpResponse:
    if result.status == "done":
        messages.success(request, result.message)
        return redirect(_done_url(result))
    if result.status == "repeat":
        messages.info(request, result.message)
        return redirect(_done_url(result))
    current = result.preview or actions.preview(selection)
    return _preview_page(request, selection, current, result)


def _done_url(result: actions.Result) -> str:
    if result.run_id is not None:
        return reverse("reconcile:run-detail", args=[result.run_id])
    return reverse("reconcile:overview")


def _preview_page(request, selection, current, result=None) -> HttpResponse:
    context = {
        "action": selection.action,
        "what": WHAT[selection.action],
        "preview": current,
        "states": [
            (actions.state_label(state), per_type["deals"], per_type["line_items"])
            for state, per_type in current.by_state.items()
        ],
        "skipped": [
            actions.skipped_text(state, count)
            for state, count in current.skipped.items()
        ],
        "result": result,
        "token": actions.new_token(),
        "query": request.GET.urlencode(),
    }
    return render(request, "reconcile/actions/preview.html", context)


def _forbidden(request: HttpRequest, action: str) -> HttpResponse:
    role = roles.role_of(request.user)
    reason = f"Refused: the {role} role may not {MAY[action]}."
    if request.method == "POST":
        actions.refuse(request.user, action, request.GET, reason)
    context = {"what": WHAT[action], "role": role, "may": MAY[action]}
    return render(request, "reconcile/actions/forbidden.html", context, status=403)


class AuditFilter(django_filters.FilterSet):
    username = django_filters.ChoiceFilter(label="User", empty_label="Anyone")
    action = django_filters.ChoiceFilter(
        choices=list(AUDITED.items()), empty_label="Any"
    )
    status = django_filters.ChoiceFilter(
        choices=AuditEntry.Status.choices, empty_label="Any"
    )

    class Meta:
        model = AuditEntry
        fields: list[str] = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        names = (
            AuditEntry.objects.order_by("username")
            .values_list("username", flat=True)
            .distinct()
        )
        self.filters["username"].extra["choices"] = [(n, n) for n in names]


class AuditTable(tables.Table):
    at = tables.DateTimeColumn(verbose_name="When", format="j M Y H:i:s")
    username = tables.Column(verbose_name="Who")
    action = tables.Column(verbose_name="What")
    target = tables.Column(verbose_name="Applied to")
    status = tables.Column()
    figures = tables.Column(verbose_name="Preview", empty_values=(), accessor="pk")
    result = tables.Column()
    # empty_values=(): a sweep's entry has no run id and still names its sweep.
    run_id = tables.Column(verbose_name="Run", empty_values=())

    class Meta:
        model = AuditEntry
        fields = ("at", "username", "action", "target", "status")
        sequence = (
            "at",
            "username",
            "action",
            "target",
            "figures",
            "status",
            "result",
            "run_id",
        )
        orderable = False
        per_page = AUDIT_PER_PAGE
        template_name = TABLE_TEMPLATE
        attrs = {"class": "data"}

    def paginate(self, paginator_class=Paginator, per_page=None, page=1, **kwargs):
        # ?per_page= comes from the query string; keep a page a page.
        per_page = min(max(per_page or AUDIT_PER_PAGE, 1), MAX_PER_PAGE)
        return super().paginate(paginator_class, per_page, page, **kwargs)

    def render_action(self, value: str) -> str:
        return AUDITED.get(value, value)

    def render_status(self, record: AuditEntry) -> str:
        return badge(record.status, record.get_status_display())

    def render_figures(self, record: AuditEntry) -> str:
        figures = record.preview
        if not figures:
            return "—"
        items = sum(figures.get("to_send", {}).values())
        calls = figures.get("calls", {}).get("total", 0)
        return f"{counted(items, 'item')}, {counted(calls, 'call')}"

    def render_run_id(self, record: AuditEntry) -> str:
        if record.run_id is not None:
            url = reverse("reconcile:run-detail", args=[record.run_id])
            return format_html('<a href="{}">Run {}</a>', url, record.run_id)
        if record.sweep_id is not None:
            return f"Sweep {record.sweep_id}"
        return "—"


@login_required
@require_safe
def audit_list(request: HttpRequest) -> HttpResponse:
    chosen = AuditFilter(request.GET, queryset=AuditEntry.objects.all())
    table = AuditTable(chosen.qs.order_by("-at", "-pk"))
    RequestConfig(request).configure(table)
    context = {"form": chosen.form, "table": table}
    return render(request, "reconcile/audit_list.html", context)
