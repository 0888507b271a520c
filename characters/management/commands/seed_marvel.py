"""``manage.py seed_marvel``: arguments in, progress and one summary line out. The work is
:func:`characters.ingest.seed.seed`; this command is the :class:`Report` it talks to."""

import json
import logging
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from characters.ingest.seed import (
    DB_RETRY_SECONDS,
    LOCK_WAIT_SECONDS,
    MAX_PAGE_SIZE,
    ImportStats,
    Report,
    SeedError,
    SeedOptions,
    seed,
)
from marvelsite.db_errors import describe

# -v 0 silences their retry warnings too; failures are still raised.
CHATTY_LOGGERS = ("characters.ingest.api", "urllib3")


class Command(Report, BaseCommand):
    help = (
        "Load Marvel characters and their comics from the Marvel API (when MARVEL_PUBLIC_KEY "
        "and MARVEL_PRIVATE_KEY are set) or from recorded responses (by default the bundled "
        "data set). Safe to re-run: only what changed is written."
    )

    def add_arguments(self, parser):
        # docs/loading-data.md says more about each.
        add = parser.add_argument
        add("--source", choices=["api", "file"], help="Default: api with both keys, else file")
        add("--path", type=Path, help="file: a folder, envelope or array (gzip too); default: ours")
        add("--base-url", help="api: the API root; default: $MARVEL_API_BASE_URL, else Marvel's")
        add("--offset", type=int, default=0, help="Start at this record (resume a failed run)")
        add("--max-offset", type=int, help="No page starts at or past it; default: $OFFSET")
        add("--page-size", type=int, default=MAX_PAGE_SIZE, help=f"1..{MAX_PAGE_SIZE} a page")
        add("--dry-run", action="store_true", help="Read and compare; write nothing")
        add(
            "--overwrite-local-edits",
            action="store_true",
            help="Marvel's data wins: undo admin edits, re-create characters deleted there",
        )
        add("--json", action="store_true", help="The counters as JSON, the last line of stdout")
        add("--db-wait", type=float, default=120.0, help="Seconds to wait for a migrated database")
        add(
            "--db-retry",
            type=float,
            default=DB_RETRY_SECONDS,
            help=f"Seconds to retry a page through a failover; default {DB_RETRY_SECONDS:g}",
        )
        add(
            "--lock-wait",
            type=float,
            default=LOCK_WAIT_SECONDS,
            help=f"Seconds to wait for another import; default {LOCK_WAIT_SECONDS:g}",
        )
        add("--retries", type=int, help="api: retries a request; default: $MARVEL_RETRIES, else 5")
        add("--backoff", type=float, help="api: waits backoff*2**n s; default: $MARVEL_BACKOFF, 1")
        add("--timeout", type=float, help="api: seconds per request; default: $MARVEL_TIMEOUT, 30")

    def handle(self, *args, **options):
        started, error = time.monotonic(), None
        self.verbosity, self.bar, self.label = options["verbosity"], None, None
        levels = {name: logging.getLogger(name).level for name in CHATTY_LOGGERS}
        if self.verbosity < 1:
            for name in CHATTY_LOGGERS:
                logging.getLogger(name).setLevel(logging.ERROR)
        try:
            stats = seed(SeedOptions.build(options, settings), report=self)
        except SeedError as exc:
            error, stats = exc, exc.stats  # stats: None when nothing was read
        except Exception as exc:
            error, stats = SeedError(f"seed_marvel failed: {describe(exc, longest=500)}"), None
            if self.verbosity >= 2:
                logging.getLogger(__name__).exception("seed_marvel failed")
        finally:
            if self.bar is not None:
                self.bar.close()
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
        if stats is not None:
            self._summary(stats, options["dry_run"])
        if options["json"]:
            stats = stats or ImportStats(errors=1, seconds=time.monotonic() - started)
            self.stdout.write(json.dumps(stats.as_dict() | {"error": error and str(error)}))
        if error is not None:
            raise CommandError(str(error))

    # --- what seed() reports ----------------------------------------------------------------

    def waiting(self, attempt, pause, reason):
        if self.verbosity >= 1:
            self.stderr.write(
                f"Waiting for the database (attempt {attempt}, retrying in {pause:.1f}s): {reason}"
            )

    def started(self, source):
        self.label = source.label
        if self.verbosity >= 1 and self._interactive():
            from tqdm import tqdm

            self.bar = tqdm(
                total=source.total, unit="char", desc="seed_marvel", file=sys.stderr, leave=False
            )

    def page(self, page, result, stats):
        warnings = [skipped.describe() for skipped in page.skipped] if self.verbosity >= 1 else []
        if self.verbosity >= 2:
            warnings += [
                f"character {r.id} ({r.name}): {w}" for r in page.records for w in r.warnings
            ]
        for warning in warnings:
            line = self.style.WARNING(f"warning: {warning}")
            self.bar.write(line, file=sys.stderr) if self.bar else self.stderr.write(line)
        if self.bar is not None:
            if self.bar.total is None and page.total is not None:
                self.bar.total = max(page.total - page.offset, 0) + self.bar.n
            self.bar.update(page.size)
            self.bar.set_postfix(
                created=stats.characters_created,
                updated=stats.characters_updated,
                skipped=stats.characters_skipped,
                refresh=False,
            )
        elif self.verbosity >= 1:
            of = f"/{page.total}" if page.total is not None else ""
            self.stdout.write(
                f"page {stats.pages}: offset {page.offset}, {page.size} records: "
                f"{result.characters_created} created, {result.characters_updated} updated, "
                f"{result.characters_unchanged} unchanged, {result.characters_skipped} skipped "
                f"({stats.characters_read}{of} characters)"
            )

    def lock_notice(self, message):
        if self.verbosity >= 1:
            self.stderr.write(message)

    def retrying(self, page, attempt, pause, reason):
        if self.verbosity >= 1:
            what = "taking the import lock" if page is None else f"page at offset {page.offset}"
            self.stderr.write(
                self.style.WARNING(
                    f"warning: {what}, attempt {attempt} failed, retrying in {pause:.1f}s: {reason}"
                )
            )

    def splitting(self, page, halves, reason):
        if self.verbosity >= 1:
            self.stderr.write(
                self.style.WARNING(
                    f"warning: {len(page.records)} records of the page at offset {page.offset} "
                    f"are written as {halves[0]} + {halves[1]}: {reason}"
                )
            )

    # --- output -----------------------------------------------------------------------------

    def _interactive(self) -> bool:
        return self.stderr.isatty()

    def _summary(self, stats: ImportStats, dry_run: bool) -> None:
        if self.verbosity >= 1:
            line = stats.summary(dry_run=dry_run, source=self.label)
            self.stdout.write((self.style.ERROR if stats.errors else self.style.SUCCESS)(line))
