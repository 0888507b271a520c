"""``manage.py sweep_uploads [--dry-run] [--grace-minutes N]``: delete stored uploads that no
character shows (characters/images.py, sweep_orphans)."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from characters import images


class Command(BaseCommand):
    help = (
        "Delete uploaded images (every size) that no character shows and that were stored "
        "more than --grace-minutes ago: what a crash between a save and its deferred delete "
        "leaves. --dry-run lists them and deletes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="list, delete nothing")
        parser.add_argument(
            "--grace-minutes",
            type=int,
            default=int(images.SWEEP_GRACE.total_seconds() // 60),
            help="leave uploads stored this recently: a save may not have committed yet "
            "(default: %(default)s)",
        )

    def handle(self, *args, dry_run, grace_minutes, **options):
        if grace_minutes < 1:
            raise CommandError(
                f"--grace-minutes must be at least 1, got {grace_minutes}: an upload whose "
                "save has not committed yet would be deleted"
            )
        sweep = images.sweep_orphans(dt.timedelta(minutes=grace_minutes), dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        for sha256, names in sweep.swept.items():
            self.stdout.write(f"{verb} {sha256} ({len(names)} files)")
        files = sum(len(names) for names in sweep.swept.values())
        self.stdout.write(
            f"{len(sweep.swept)} unused upload{'' if len(sweep.swept) == 1 else 's'} {verb} "
            f"({files} files); {len(sweep.young)} unused but stored within {grace_minutes} "
            f"minutes left; {sweep.in_use} in use"
        )
