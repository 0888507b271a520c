"""Make sure an admin account exists (used by scripts/run on a fresh checkout)."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django_otp import user_has_device

from marvelsite.otp import enrol, required_for


class Command(BaseCommand):
    help = (
        "Create a superuser unless one exists: DJANGO_SUPERUSER_USERNAME (default admin) and "
        "DJANGO_SUPERUSER_PASSWORD, or a generated password printed once."
    )

    def handle(self, *args, **options):
        users = get_user_model()._default_manager
        if existing := users.filter(is_superuser=True).order_by("pk").first():
            self.stdout.write(f"Admin account: {existing.get_username()} (already exists)")
            if required_for(existing) and not user_has_device(existing):
                self.stdout.write(
                    self.style.WARNING(
                        "It has no second factor yet: `manage.py otp_enrol "
                        f"{existing.get_username()}` before logging in to the admin"
                    )
                )
            return
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME") or "admin"
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        user = users.create_superuser(
            username=username,
            email=os.environ.get("DJANGO_SUPERUSER_EMAIL", ""),
            password=password or (generated := secrets.token_urlsafe(12)),
        )
        if password:
            self.stdout.write(
                f"Admin account: {username} (password from DJANGO_SUPERUSER_PASSWORD)"
            )
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"Admin account created: {username} / {generated}  (shown once; change it in "
                    "the admin or set DJANGO_SUPERUSER_PASSWORD before the first run)"
                )
            )
        if required_for(user):
            self._enrol(user)

    def _enrol(self, user):
        """A first login needs the second factor too: shown once, like the password."""
        uri, codes = enrol(user)
        self.stdout.write(
            self.style.WARNING(
                "Second factor (MARVELSITE_OTP_REQUIRED), shown once: add this to an "
                f"authenticator app:\n  {uri}\nRecovery codes (one use each):\n  "
                + "  ".join(codes)
            )
        )
