"""Wait until the database answers: the migrate Job's init container (see k8s/base)."""

from django.core.management.base import BaseCommand, CommandError

from marvelsite.health import DatabaseNotReady, wait_for_database


class Command(BaseCommand):
    help = (
        "Wait, with backoff, until the database answers (with --migrated: and has every "
        "migration applied); exit 1 after --timeout seconds."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--timeout", type=float, default=120.0, help="Seconds to wait at most. Default: 120."
        )
        parser.add_argument(
            "--migrated", action="store_true", help="Also wait for every migration to be applied."
        )

    def handle(self, *args, timeout, migrated, verbosity, **options):
        if timeout < 0:
            raise CommandError(f"--timeout must not be negative, got {timeout:g}")

        def waiting(attempt: int, pause: float, reason: str) -> None:
            if verbosity >= 1:
                self.stderr.write(f"Waiting for the database (attempt {attempt}): {reason}")

        try:
            wait_for_database(timeout, migrated=migrated, on_retry=waiting)
        except DatabaseNotReady as exc:
            raise CommandError(str(exc)) from None
        if verbosity >= 1:
            self.stdout.write("The database is ready.")
