"""A management command about one existing user, named on the command line."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class UserCommand(BaseCommand):
    """Takes USERNAME; `handle_user` gets the user, or the command fails with a clear error."""

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        users = get_user_model()._default_manager
        try:
            user = users.get_by_natural_key(username)
        except users.model.DoesNotExist:
            raise CommandError(f"no user {username!r}") from None
        self.handle_user(user)

    def handle_user(self, user):
        raise NotImplementedError
