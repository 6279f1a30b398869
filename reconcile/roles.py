"""The three roles of the dashboard, as Django groups.

- Viewer: sees every page and exports every report.
- Operator: also retries items, resyncs orders and starts sweeps.
- Admin: also manages users (Django's admin site, which needs ``is_staff``).

The groups and their permissions are (re)made after every ``migrate``, so a
new install has them and a changed list here reaches old installs.
"""

import logging

from django.contrib.auth.models import Group, Permission

logger = logging.getLogger(__name__)

VIEWER = "Viewer"
OPERATOR = "Operator"
ADMIN = "Admin"
ROLES = (VIEWER, OPERATOR, ADMIN)

OPERATOR_PERMISSIONS = (
    "reconcile.retry_items",
    "reconcile.resync_orders",
    "reconcile.run_sweep",
)
USER_PERMISSIONS = (
    "auth.view_user",
    "auth.add_user",
    "auth.change_user",
    "auth.delete_user",
    "auth.view_group",
)
PERMISSIONS = {
    VIEWER: (),
    OPERATOR: OPERATOR_PERMISSIONS,
    ADMIN: OPERATOR_PERMISSIONS + USER_PERMISSIONS,
}


def _permission(dotted: str) -> Permission:
    app_label, codename = dotted.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def ensure_roles(**kwargs) -> None:
    """Create the groups and give each exactly its permissions (post_migrate)."""
    for name, dotted in PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set([_permission(p) for p in dotted])


def assign(user, role: str) -> None:
    """Give ``user`` exactly one role; admins may use Django's admin site."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    user.groups.set([Group.objects.get(name=role)])
    user.is_staff = role == ADMIN
    user.save(update_fields=["is_staff"])


def role_of(user) -> str:
    """The highest role the user holds; superusers are admins."""
    if user.is_superuser:
        return ADMIN
    names = set(user.groups.values_list("name", flat=True))
    for role in reversed(ROLES):
        if role in names:
            return role
    return VIEWER
