"""``manage.py otp_reset USERNAME``: remove one user's second factor (a lost phone)."""

from characters.management.user_command import UserCommand
from marvelsite.otp import reset


class Command(UserCommand):
    help = (
        "Delete every authenticator and recovery code of USERNAME. Where a second factor is "
        "required they cannot use the admin until `manage.py otp_enrol USERNAME`."
    )

    def handle_user(self, user):
        username = user.get_username()
        removed = reset(user)
        self.stdout.write(f"{username}: {removed} device{'' if removed == 1 else 's'} removed")
