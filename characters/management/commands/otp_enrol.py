"""``manage.py otp_enrol USERNAME``: a new second factor for one admin user (marvelsite/otp.py)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from marvelsite.otp import RECOVERY_CODES, enrol


class Command(BaseCommand):
    help = (
        "Give USERNAME a new authenticator (TOTP) and recovery codes, replacing any they had: "
        "prints the otpauth:// URI to add to an authenticator app and "
        f"{RECOVERY_CODES} single-use recovery codes, once."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        users = get_user_model()._default_manager
        try:
            user = users.get_by_natural_key(username)
        except users.model.DoesNotExist:
            raise CommandError(f"no user {username!r}") from None
        uri, codes = enrol(user)
        self.stdout.write(f"Authenticator for {username} (add it to the app; shown once):")
        self.stdout.write(f"  {uri}")
        self.stdout.write("Recovery codes (one use each; keep them offline):")
        self.stdout.write("  " + "  ".join(codes))
