"""Run manage.py in a fresh process, as a user would: no test settings, no inherited config."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Variables the project reads; a subprocess starts without the test run's values of them.
PROJECT_PREFIXES = ("DJANGO_", "MONGO", "MARVEL", "GUNICORN_")


def clean_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(PROJECT_PREFIXES) and key not in ("password", "OFFSET")
    }
    env |= {"DJANGO_SETTINGS_MODULE": "marvelsite.settings", "MARVELSITE_DATA_DIR": str(data_dir)}
    return env | overrides


def run_manage(*args: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean_env(data_dir, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
