import secrets

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

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
        username = self._valid(username)
        password = secrets.token_urlsafe(9)
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.set_password(password)
        user.is_active = True
        user.save()
        roles.assign(user, ROLES[role])
        self.stdout.write(f"Login: {username} / {password} ({role})")

    def _valid(self, username: str) -> str:
        """The name as the login form and the admin would accept it.

        ``get_or_create`` checks nothing: an empty name could never log in, and
        one past the field's length fails only in databases that enforce it.
        The field's own clean() runs the checks Django's auth applies: not
        blank, the allowed characters, the maximum length.
        """
        model = get_user_model()
        field = model._meta.get_field(model.USERNAME_FIELD)
        try:
            return field.clean(model.normalize_username(username), None)
        except ValidationError as exc:
            raise CommandError(
                f"--username {username!r} is not a valid username: "
                + " ".join(exc.messages)
            ) from None
