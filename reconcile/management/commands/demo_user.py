import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from reconcile import roles

ROLES = {role.lower(): role for role in roles.ROLES}


class Command(BaseCommand):
    help = (
        "Create (or reset) a dashboard login with a fresh password and one role: "
        "viewer (sees and exports), operator (also retries, resyncs and sweeps) "
        "or admin (also manages users in Django's admin site)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")
        parser.add_argument("--role", choices=sorted(ROLES), default="operator")

    def handle(self, *args, username: str, role: str, **options):
        password = secrets.token_urlsafe(9)
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.set_password(password)
        user.is_active = True
        user.save()
        roles.assign(user, ROLES[role])
        self.stdout.write(f"Login: {username} / {password} ({role})")
