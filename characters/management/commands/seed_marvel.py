"""``manage.py seed_marvel``: load Marvel characters and comics, idempotently.

Thin by design: options -> a source of parsed pages (the API client or the recordings
reader, characters.ingest) -> the importer -> progress and a summary.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from characters.ingest.api import (
    DEFAULT_BASE_URL,
    MAX_PAGE_SIZE,
    MarvelAPIError,
    MarvelClient,
    RetryPolicy,
    mask_secrets,
)
from characters.ingest.importer import Importer, ImportStats
from characters.ingest.recordings import BUNDLED_DATASET, RecordingError, RecordingSource
from marvelsite.health import DATABASE_ERRORS, DatabaseNotReady, wait_for_database


def _env_number(name: str, kind: type, default):
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = kind(value)
    except ValueError:
        raise CommandError(f"{name} must be a number, got {value!r}") from None
    if number < 0:
        raise CommandError(f"{name} must not be negative, got {value!r}")
    return number


class Command(BaseCommand):
    help = (
        "Load Marvel characters and their comics into the database from the Marvel API "
        "(when MARVEL_PUBLIC_KEY and MARVEL_PRIVATE_KEY are set) or from recorded responses "
        "(by default the bundled data set). Safe to re-run: unchanged records are not "
        "written, changed ones are updated, comic links follow the latest input."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--source",
            choices=["api", "file"],
            help="Where to read characters from. Default: api when MARVEL_PUBLIC_KEY and "
            "MARVEL_PRIVATE_KEY are set (and no --path is given), else file.",
        )
        parser.add_argument(
            "--path",
            type=Path,
            help="For --source file: a directory of recorded envelopes (*.json, *.json.gz), "
            "one envelope file, a JSON array of character records, or gzip of either. "
            "Default: the bundled data set.",
        )
        parser.add_argument(
            "--base-url",
            help="For --source api: the API root. Default: $MARVEL_API_BASE_URL, else "
            f"{DEFAULT_BASE_URL}.",
        )
        parser.add_argument(
            "--offset",
            type=int,
            default=0,
            help="Start at this record offset (resume a failed run). Default: 0.",
        )
        parser.add_argument(
            "--max-offset",
            type=int,
            help="Request no page starting at or past this offset. Default: $OFFSET when "
            "set, else no limit.",
        )
        parser.add_argument(
            "--page-size",
            type=int,
            default=MAX_PAGE_SIZE,
            help=f"Records per page/batch, 1..{MAX_PAGE_SIZE}. Default: {MAX_PAGE_SIZE}.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Read and compare, write nothing; report what would change.",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print the counters as one JSON object on the last line of stdout.",
        )
        parser.add_argument(
            "--db-wait",
            type=float,
            help="Wait up to this many seconds for the database to be reachable, with "
            "backoff, before failing. Default: 120.",
        )
        parser.add_argument(
            "--retries",
            type=int,
            help="API: retries per request on 429, 5xx, timeouts, connection errors and "
            "malformed bodies. Default: $MARVEL_RETRIES, else 5.",
        )
        parser.add_argument(
            "--backoff",
            type=float,
            help="API: backoff factor in seconds (waits backoff * 2**n, plus jitter, at most "
            "30 s; a Retry-After header wins, up to 120 s). Default: $MARVEL_BACKOFF, else 1.",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            help="API: seconds to wait for a response. Default: $MARVEL_TIMEOUT, else 30.",
        )

    # --- options -> source ---------------------------------------------------------------

    def _source(self, options):
        public = os.environ.get("MARVEL_PUBLIC_KEY", "")
        private = os.environ.get("MARVEL_PRIVATE_KEY", "")
        source = options["source"] or (
            "api" if public and private and options["path"] is None else "file"
        )
        offset, page_size = options["offset"], options["page_size"]
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise CommandError(
                f"--page-size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}"
            )
        if offset < 0:
            raise CommandError(f"--offset must not be negative, got {offset}")
        max_offset = options["max_offset"]
        if max_offset is None:
            max_offset = _env_number("OFFSET", int, None)
        elif max_offset < 0:
            raise CommandError(f"--max-offset must not be negative, got {max_offset}")

        if source == "file":
            if options["base_url"]:
                raise CommandError("--base-url is for --source api")
            path = options["path"] or BUNDLED_DATASET
            try:
                reader = RecordingSource(
                    path, page_size=page_size, offset=offset, max_offset=max_offset
                )
            except RecordingError as exc:
                raise CommandError(str(exc)) from None
            label = "the bundled data set" if options["path"] is None else str(path)
            return reader, reader.total, label, None

        if options["path"] is not None:
            raise CommandError("--path is for --source file")
        keys = {"MARVEL_PUBLIC_KEY": public, "MARVEL_PRIVATE_KEY": private}
        missing = [name for name, value in keys.items() if not value]
        if missing:
            raise CommandError(
                f"--source api needs the API keys in the environment: {' and '.join(missing)} "
                "not set"
            )
        retries = options["retries"]
        if retries is None:
            retries = _env_number("MARVEL_RETRIES", int, 5)
        backoff = options["backoff"]
        if backoff is None:
            backoff = _env_number("MARVEL_BACKOFF", float, 1.0)
        timeout = options["timeout"]
        if timeout is None:
            timeout = _env_number("MARVEL_TIMEOUT", float, 30.0)
        if retries < 0 or backoff < 0 or timeout <= 0:
            raise CommandError("--retries and --backoff must be >= 0 and --timeout > 0")
        base_url = options["base_url"] or os.environ.get("MARVEL_API_BASE_URL") or DEFAULT_BASE_URL
        if not base_url.startswith(("http://", "https://")):
            raise CommandError(f"--base-url must be an http(s) URL, got {base_url!r}")
        policy = RetryPolicy(
            retries=retries,
            backoff=backoff,
            connect_timeout=min(timeout, 10.0),
            read_timeout=timeout,
        )
        client = MarvelClient(public, private, base_url, policy=policy)
        pages = client.pages(offset=offset, page_size=page_size, max_offset=max_offset)
        return pages, None, mask_secrets(client.characters_url), client

    # --- database --------------------------------------------------------------------------

    def _wait_for_database(self, seconds: float) -> None:
        def waiting(attempt: int, pause: float, reason: str) -> None:
            if self.verbosity >= 1:
                self.stderr.write(
                    f"Waiting for the database (attempt {attempt}, retrying in {pause:.1f}s): "
                    f"{mask_secrets(reason)[:300]}"
                )

        try:
            wait_for_database(seconds, migrated=True, on_retry=waiting)
        except DatabaseNotReady as exc:
            raise CommandError(mask_secrets(str(exc))[:500]) from None

    # --- the run ---------------------------------------------------------------------------

    def handle(self, *args, **options):
        self.verbosity = options["verbosity"]
        self._json_written = False
        started = time.monotonic()
        # -v 0: no retry warnings either (ours and urllib3's); failures still raise.
        loggers = [logging.getLogger(n) for n in ("characters.ingest.api", "urllib3")]
        levels = [logger.level for logger in loggers]
        if self.verbosity < 1:
            for logger in loggers:
                logger.setLevel(logging.ERROR)
        try:
            self._run(options, started)
        except CommandError:
            if options["json"] and not self._json_written:
                # Bad input or no database: still one JSON object last on stdout.
                failed = ImportStats(errors=1, seconds=time.monotonic() - started)
                self.stdout.write(json.dumps(failed.as_dict()))
            raise
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)

    def _run(self, options, started: float) -> None:
        db_wait = options["db_wait"]
        if db_wait is None:
            db_wait = 120.0
        if db_wait < 0:
            raise CommandError(f"--db-wait must not be negative, got {db_wait:g}")
        pages, total, label, client = self._source(options)
        if total is not None:
            total = max(total - options["offset"], 0)
        self._wait_for_database(db_wait)

        importer = Importer(dry_run=options["dry_run"])
        progress = self._progress(total)
        failure: str | None = None
        next_offset = options["offset"]
        try:
            for page in pages:
                result = importer.import_page(page)
                next_offset = page.offset + page.size
                self._report_page(page, result, importer.stats, progress, total)
        except (MarvelAPIError, RecordingError) as exc:
            failure = str(exc)
        except DATABASE_ERRORS as exc:
            failure = mask_secrets(f"database error: {type(exc).__name__}: {exc}")[:500]
        finally:
            if progress is not None:
                progress.close()
            if client is not None:
                client.close()

        stats = importer.stats
        stats.seconds = time.monotonic() - started
        if failure:
            stats.errors += 1
        self._summary(stats, label, options["dry_run"])
        if options["json"]:
            self.stdout.write(json.dumps(stats.as_dict()))
            self._json_written = True
        if failure:
            resume = (
                f"; every page before offset {next_offset} is fully written: re-run with "
                f"--offset {next_offset} to resume"
                if stats.pages and not options["dry_run"]
                else ""
            )
            raise CommandError(f"seed_marvel failed: {failure}{resume}")

    # --- output ----------------------------------------------------------------------------

    def _progress(self, total: int | None):
        if self.verbosity < 1 or not self._interactive():
            return None
        from tqdm import tqdm

        return tqdm(total=total, unit="char", desc="seed_marvel", file=sys.stderr, leave=False)

    def _interactive(self) -> bool:
        return self.stderr.isatty()

    def _report_page(self, page, result: ImportStats, stats: ImportStats, progress, total):
        if self.verbosity >= 1:
            for skipped in page.skipped:
                self._warn(skipped.describe())
        if self.verbosity >= 2:
            for record in page.records:
                for warning in record.warnings:
                    self._warn(f"character {record.id} ({record.name}): {warning}")
        if progress is not None:
            if progress.total is None and page.total is not None:
                progress.total = max(page.total - page.offset, 0) + progress.n
            progress.update(page.size)
            progress.set_postfix(
                created=stats.characters_created,
                updated=stats.characters_updated,
                skipped=stats.characters_skipped,
                refresh=False,
            )
            return
        if self.verbosity >= 1:
            done = (
                stats.characters_created
                + stats.characters_updated
                + stats.characters_unchanged
                + stats.characters_skipped
            )
            of = f"/{page.total}" if page.total is not None else ""
            self.stdout.write(
                f"page {stats.pages}: offset {page.offset}, {page.size} records: "
                f"{result.characters_created} created, {result.characters_updated} updated, "
                f"{result.characters_unchanged} unchanged, {result.characters_skipped} skipped "
                f"({done}{of} characters)"
            )

    def _warn(self, message: str) -> None:
        if self._interactive():
            from tqdm import tqdm

            tqdm.write(self.style.WARNING(f"warning: {message}"), file=sys.stderr)
        else:
            self.stderr.write(self.style.WARNING(f"warning: {message}"))

    def _summary(self, stats: ImportStats, label: str, dry_run: bool) -> None:
        if self.verbosity < 1:
            return
        verb = "Dry run, nothing written: would have" if dry_run else "Done:"
        line = (
            f"{verb} {stats.characters_created} characters created, "
            f"{stats.characters_updated} updated, {stats.characters_unchanged} unchanged, "
            f"{stats.characters_skipped} skipped; comics {stats.comics_created} created, "
            f"{stats.comics_updated} updated; links {stats.links_created} added, "
            f"{stats.links_deleted} removed; {stats.pages} page{'' if stats.pages == 1 else 's'} "
            f"from {label} in {stats.seconds:.1f}s"
        )
        if stats.errors:
            line += f"; {stats.errors} error{'s' if stats.errors > 1 else ''}"
        style = self.style.ERROR if stats.errors else self.style.SUCCESS
        self.stdout.write(style(line))
