"""Run manage.py in a fresh process, as a user would: no test settings, no inherited config."""

import os
import subprocess
import sys
import uuid
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


def manage_in(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """manage.py with exactly the environment `env` (see clean_env)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_manage(*args: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess:
    return manage_in(clean_env(data_dir, **env), *args)


def shell_line(code: str, *, data_dir: Path, **env: str) -> str:
    """The last line `code` prints, run by `manage.py shell` in a fresh process."""
    result = run_manage("shell", "-c", code, data_dir=data_dir, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def fresh_database(data_dir: Path, mongodb_uri: str | None = None) -> dict[str, str]:
    """Migrate a fresh database for manage.py processes: a SQLite file in `data_dir`, or a new
    database on the replica set at `mongodb_uri`. Returns the variables that name it."""
    variables = {"DJANGO_DEBUG": "true"}
    if mongodb_uri:
        variables |= {"MONGODB_URI": mongodb_uri, "MONGODB_NAME": f"fresh_{uuid.uuid4().hex[:8]}"}
    migrated = run_manage("migrate", "--noinput", data_dir=data_dir, **variables)
    assert migrated.returncode == 0, migrated.stderr
    return variables
