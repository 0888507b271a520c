"""The counters of an import: one page's (derived from its plan) or a whole run's."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

# Every character read ends in one of these.
CHARACTER_OUTCOMES = (
    "characters_created",
    "characters_updated",
    "characters_unchanged",
    "characters_skipped",
)
# The counters of rows written.
WRITES = (
    "characters_created",
    "characters_updated",
    "comics_created",
    "comics_updated",
    "links_created",
    "links_deleted",
)


@dataclass
class ImportStats:
    """Counters for one page or a whole run (the keys of ``seed_marvel --json``)."""

    characters_created: int = 0
    characters_updated: int = 0
    characters_unchanged: int = 0
    characters_skipped: int = 0
    comics_created: int = 0
    comics_updated: int = 0
    links_created: int = 0
    links_deleted: int = 0
    local_edits_kept: int = 0
    local_edits_overwritten: int = 0
    pages: int = 0
    errors: int = 0
    seconds: float = 0.0

    def add(self, other: ImportStats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def characters_read(self) -> int:
        return self._sum(CHARACTER_OUTCOMES)

    @property
    def writes(self) -> int:
        return self._sum(WRITES)

    def _sum(self, names: tuple[str, ...]) -> int:
        return sum(getattr(self, name) for name in names)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        return data

    def summary(self, *, dry_run: bool = False, source: str | None = None) -> str:
        """The run in one line, as seed_marvel prints it."""

        def counted(n: int, what: str) -> str:
            return f"{n} {what}{'' if n == 1 else 's'}"

        verb = "Dry run, nothing written: would have" if dry_run else "Done:"
        overwritten = self.local_edits_overwritten
        return (
            f"{verb} {self.characters_created} characters created, "
            f"{self.characters_updated} updated, {self.characters_unchanged} unchanged, "
            f"{self.characters_skipped} skipped; comics {self.comics_created} created, "
            f"{self.comics_updated} updated; links {self.links_created} added, "
            f"{self.links_deleted} removed; {counted(self.local_edits_kept, 'local edit')} kept"
            + (f", {overwritten} overwritten" if overwritten else "")
            + f"; {counted(self.pages, 'page')}"
            + (f" from {source}" if source else "")
            + f" in {self.seconds:.1f}s"
            + (f"; {counted(self.errors, 'error')}" if self.errors else "")
        )
