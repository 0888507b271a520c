"""Where the shared Marvel recordings are, and how tests behave without them.

``../shared/marvel-api`` sits beside the project in development and CI, never in a user's
clone. Tests that read it skip with a clear reason when it is absent, except under CI
(``CI=true``), where its absence is a failure.
"""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_MARVEL = ROOT.parent / "shared" / "marvel-api"
SHARED_CHARACTERS = SHARED_MARVEL / "characters"  # the first 1,050: replayed by tests
SHARED_CHARACTERS_FULL = SHARED_MARVEL / "characters-full"  # all 1,561: the bundled set's source


def require_shared() -> Path:
    if SHARED_CHARACTERS.is_dir():
        return SHARED_MARVEL
    message = f"{SHARED_MARVEL} is absent (it sits beside the project in development and CI)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; under CI it must be there")
    pytest.skip(message)


def shared_files() -> list[Path]:
    """Every recorded file (empty when the recordings are absent: see require_shared)."""
    if not SHARED_MARVEL.is_dir():
        return []
    return sorted(SHARED_MARVEL.rglob("*.json"))
