"""``manage.py otp_reset USERNAME``: remove one user's second factor (a lost phone)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from marvelsite.otp import reset


class Command(BaseCommand):
    help = (
        "Delete every authenticator and recovery code of USERNAME. Where a second factor is "
        "required they cannot use the admin until `manage.py otp_enrol USERNAME`."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        users = get_user_model()._default_manager
        try:
            user = users.get_by_natural_key(username)
        except users.model.DoesNotExist:
            raise CommandError(f"no user {username!r}") from None
        removed = reset(user)
        self.stdout.write(f"{username}: {removed} device{'' if removed == 1 else 's'} removed")
