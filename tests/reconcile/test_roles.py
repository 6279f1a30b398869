"""Roles: who may preview and confirm which action, and the demo_user command."""

import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from hubspot_sync.models import SyncItem, SyncRun
from reconcile import roles
from reconcile.models import AuditEntry, Order, Sweep
from tests.factories import audit_fields, item, make_shop

pytestmark = pytest.mark.django_db

ACTIONS = [
    ("reconcile:retry-preview", "category=failed", "retry", "retry items"),
    ("reconcile:resync-preview", "store=shop", "resync", "resync orders"),
    ("reconcile:sweep-preview", "", "sweep", "start a sweep"),
]


def user_with(django_user_model, username: str, role: str):
    user = django_user_model.objects.create_user(username, password="pass-12345678")
    roles.assign(user, role)
    return user


def everything() -> tuple:
    return (
        list(SyncItem.objects.order_by("pk").values()),
        SyncRun.objects.count(),
        Sweep.objects.count(),
        list(Order.objects.values_list("pk", "updated")),
    )


@pytest.mark.parametrize("name, query, action, may", ACTIONS)
def test_a_viewer_cannot_open_a_preview(viewer_client, name, query, action, may):
    make_shop()

    response = viewer_client.get(f"{reverse(name)}?{query}")

    assert response.status_code == 403
    assert (
        f"You are signed in as a Viewer, and the Viewer role may not {may}. "
        "Nothing was changed." in response.text
    )
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("name, query, action, may", ACTIONS)
def test_a_viewers_confirmation_is_refused_and_changes_nothing(
    viewer_client, viewer, name, query, action, may
):
    make_shop()
    before = everything()

    response = viewer_client.post(
        f"{reverse(name)}?{query}", {"token": "v" * 32, "digest": "0" * 16}
    )

    assert response.status_code == 403
    assert everything() == before
    entry = AuditEntry.objects.get()
    parameters = dict([query.split("=")]) if query else {}
    assert audit_fields(entry) == {
        "user": viewer,
        "username": "viewer",
        "action": action,
        "target": query or "(nothing chosen)",
        "parameters": parameters,
        "preview": {},
        "status": "refused",
        "result": f"Refused: the Viewer role may not {may}.",
        "run_id": None,
        "sweep_id": None,
    }


@pytest.mark.parametrize("name, query, action, may", ACTIONS)
def test_anonymous_visitors_are_sent_to_log_in(client, name, query, action, may):
    url = reverse(name)

    response = client.post(url, {"token": "a" * 32})

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("role", [roles.OPERATOR, roles.ADMIN])
@pytest.mark.parametrize("name, query, action, may", ACTIONS)
def test_operators_and_admins_see_every_preview(
    client, django_user_model, role, name, query, action, may
):
    make_shop()
    client.force_login(user_with(django_user_model, "person", role))

    response = client.get(f"{reverse(name)}?{query}")

    assert response.status_code == 200


@pytest.mark.parametrize("role", roles.ROLES)
def test_every_role_sees_the_audit_log(client, django_user_model, role):
    client.force_login(user_with(django_user_model, "person", role))

    response = client.get(reverse("reconcile:audit-list"))

    assert response.status_code == 200


def test_only_admins_manage_users_in_djangos_admin(client, django_user_model):
    operator = user_with(django_user_model, "olive", roles.OPERATOR)
    admin = user_with(django_user_model, "ada", roles.ADMIN)
    users = reverse("admin:auth_user_changelist")

    client.force_login(operator)
    refused = client.get(users)
    client.force_login(admin)
    allowed = client.get(users)

    assert (operator.is_staff, admin.is_staff) == (False, True)
    assert refused.status_code == 302  # to the admin's login: not staff
    assert allowed.status_code == 200
    assert "olive" in allowed.text


def test_assign_gives_exactly_one_role(django_user_model):
    user = user_with(django_user_model, "ada", roles.ADMIN)

    roles.assign(user, roles.VIEWER)

    assert list(user.groups.values_list("name", flat=True)) == ["Viewer"]
    assert roles.role_of(user) == roles.VIEWER
    assert not user.is_staff
    assert not user.has_perm("reconcile.retry_items")


def login_of(output: str) -> tuple[str, str, str]:
    match = re.fullmatch(r"Login: (\S+) / (\S+) \((\w+)\)\n", output)
    assert match, output
    return match.groups()


def test_demo_user_makes_the_demo_operator_by_default():
    out = StringIO()

    call_command("demo_user", stdout=out)

    username, password, role = login_of(out.getvalue())
    user = authenticate(username="demo", password=password)
    assert (username, role) == ("demo", "operator")
    assert user is not None
    assert roles.role_of(user) == roles.OPERATOR
    assert user.has_perm("reconcile.retry_items")
    assert not user.is_staff


@pytest.mark.parametrize(
    "role, group, staff",
    [
        ("viewer", "Viewer", False),
        ("operator", "Operator", False),
        ("admin", "Admin", True),
    ],
)
def test_demo_user_makes_any_role(role, group, staff):
    out = StringIO()

    call_command("demo_user", "--role", role, "--username", "riley", stdout=out)

    username, password, printed = login_of(out.getvalue())
    user = authenticate(username="riley", password=password)
    assert (username, printed) == ("riley", role)
    assert list(user.groups.values_list("name", flat=True)) == [group]
    assert user.is_staff is staff


def test_demo_user_resets_the_password_and_the_role():
    first, second = StringIO(), StringIO()
    call_command("demo_user", "--role", "admin", stdout=first)

    call_command("demo_user", "--role", "viewer", stdout=second)

    _, old, _ = login_of(first.getvalue())
    _, new, _ = login_of(second.getvalue())
    assert old != new
    assert authenticate(username="demo", password=old) is None
    user = authenticate(username="demo", password=new)
    assert list(user.groups.values_list("name", flat=True)) == ["Viewer"]
    assert not user.is_staff
    assert Group.objects.count() == 3


@pytest.mark.parametrize(
    "username, problem",
    [
        ("", "--username '' is not a valid username: This field cannot be blank."),
        (
            "a b<script>",
            "--username 'a b<script>' is not a valid username: Enter a valid "
            "username. This value may contain only letters, numbers, and "
            "@/./+/-/_ characters.",
        ),
        (
            "x" * 200,
            f"--username '{'x' * 200}' is not a valid username: Ensure this value "
            "has at most 150 characters (it has 200).",
        ),
    ],
)
def test_demo_user_refuses_a_username_djangos_auth_would_refuse(
    django_user_model, username, problem
):
    out = StringIO()

    with pytest.raises(CommandError) as refused:
        call_command(
            "demo_user", "--role", "viewer", "--username", username, stdout=out
        )

    assert str(refused.value) == problem
    assert out.getvalue() == ""
    assert not django_user_model.objects.exists()


def test_demo_user_takes_the_longest_username_django_allows():
    out = StringIO()

    call_command("demo_user", "--username", "a.b@c+d-" + "e" * 142, stdout=out)

    username, password, _ = login_of(out.getvalue())
    assert len(username) == 150
    assert authenticate(username=username, password=password) is not None


def render_button(user, sync_item) -> str:
    request = RequestFactory().get("/")
    request.user = user
    return render_to_string(
        "reconcile/_retry_button.html", {"item": sync_item}, request=request
    ).strip()


def test_the_retry_button_shows_for_operators_on_items_a_retry_sends(
    django_user_model, viewer
):
    make_shop()
    operator = user_with(django_user_model, "olive", roles.OPERATOR)
    failed = item("shop:1001:3")

    shown = render_button(operator, failed)

    assert f'<input type="hidden" name="item" value="{failed.pk}">' in shown
    assert f'action="{reverse("reconcile:retry-preview")}"' in shown
    assert render_button(viewer, failed) == ""
    assert render_button(operator, item("shop:1001:1")) == ""  # verified
    assert render_button(operator, item("shop:1003")) == ""  # excluded
    assert render_button(operator, None) == ""


def test_the_resync_button_shows_for_those_who_may_resync(django_user_model, viewer):
    make_shop()
    operator = user_with(django_user_model, "olive", roles.OPERATOR)
    order = Order.objects.get(number="1001")
    request = RequestFactory().get("/")

    def render(user) -> str:
        request.user = user
        return render_to_string(
            "reconcile/actions/_resync_button.html", {"order": order}, request=request
        ).strip()

    assert f'<input type="hidden" name="order" value="{order.pk}">' in render(operator)
    assert render(viewer) == ""
