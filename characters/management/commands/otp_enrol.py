"""``manage.py otp_enrol USERNAME``: a new second factor for one admin user (marvelsite/otp.py)."""

from characters.management.user_command import UserCommand
from marvelsite.otp import RECOVERY_CODES, enrol


class Command(UserCommand):
    help = (
        "Give USERNAME a new authenticator (TOTP) and recovery codes, replacing any they had: "
        "prints the otpauth:// URI to add to an authenticator app and "
        f"{RECOVERY_CODES} single-use recovery codes, once."
    )

    def handle_user(self, user):
        username = user.get_username()
        uri, codes = enrol(user)
        self.stdout.write(f"Authenticator for {username} (add it to the app; shown once):")
        self.stdout.write(f"  {uri}")
        self.stdout.write("Recovery codes (one use each; keep them offline):")
        self.stdout.write("  " + "  ".join(codes))
