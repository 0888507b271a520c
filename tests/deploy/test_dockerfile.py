"""Offline checks of the Dockerfile and .dockerignore (the image itself: scripts/image-check)."""

import re
import subprocess

import yaml

from tests.support.manifests import K8S, ROOT, tool

DOCKERFILE = (ROOT / "Dockerfile").read_text()
INSTRUCTIONS = [
    re.sub(r"\s*\\\n\s*", " ", match.group(0)).strip()
    for match in re.finditer(r"^[A-Z]+ (?:.*\\\n)*.*$", DOCKERFILE, flags=re.MULTILINE)
]


def instructions(keyword):
    return [line[len(keyword) + 1 :] for line in INSTRUCTIONS if line.startswith(keyword + " ")]


def test_hadolint_clean():
    result = subprocess.run(
        [tool("hadolint"), str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_multi_stage_on_python_slim_pinned_by_digest():
    froms = instructions("FROM")
    assert len(froms) >= 2
    for line in froms:
        assert line.split()[0] == "${PYTHON_IMAGE}", line
    [base] = [line for line in instructions("ARG") if line.startswith("PYTHON_IMAGE=")]
    # An exact version and the digest it was published with.
    assert re.fullmatch(
        r"PYTHON_IMAGE=python:3\.1[12]\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", base
    ), base
    # Declared before the first FROM, so every stage's FROM sees it.
    assert INSTRUCTIONS.index(f"ARG {base}") < INSTRUCTIONS.index(f"FROM {froms[0]}")


def test_installs_the_lock_only():
    assert "requirements/prod.txt /tmp/requirements.txt" in instructions("COPY")
    [install] = [line for line in instructions("RUN") if "pip install" in line]
    assert "-r /tmp/requirements.txt" in install
    assert "--no-cache-dir" in install
    assert "--require-hashes" in install


def test_every_lock_pins_with_hashes():
    for name in ("prod", "dev", "checkov"):
        text = (ROOT / "requirements" / f"{name}.txt").read_text()
        hashed_pin = r"^([A-Za-z0-9_.-]+)==[^\n]*\n((?:\s+--hash=sha256:[0-9a-f]{64}.*\n)+)"
        pins = re.findall(hashed_pin, text, flags=re.MULTILINE)
        lines = [line for line in text.splitlines() if re.match(r"^[A-Za-z0-9_.-]+==", line)]
        assert lines, name
        assert len(pins) == len(lines), f"requirements/{name}.txt has a pin without hashes"
    setup = (ROOT / "scripts" / "setup-venv").read_text()
    assert "--require-hashes" in setup


def test_runs_gunicorn_as_the_non_root_user_of_the_manifests():
    [user] = instructions("USER")
    uid, gid = user.split(":")
    # Numeric, so that Kubernetes can verify runAsNonRoot against the image.
    assert uid.isdigit()
    assert int(uid) > 0
    for manifest in (K8S / "base").glob("*.yaml"):
        for doc in yaml.safe_load_all(manifest.read_text()):
            if doc and doc["kind"] in ("Deployment", "Job"):
                context = doc["spec"]["template"]["spec"]["securityContext"]
                assert (context["runAsUser"], context["runAsGroup"]) == (int(uid), int(gid))
    [cmd] = instructions("CMD")
    assert cmd == '["gunicorn", "-c", "python:marvelsite.gunicorn_conf", "marvelsite.wsgi"]'
    assert INSTRUCTIONS.index(f"USER {user}") < INSTRUCTIONS.index(f"CMD {cmd}")
    assert instructions("EXPOSE") == ["8000"]


def test_static_files_are_collected_at_build_time_without_a_real_secret():
    [collect] = [line for line in instructions("RUN") if "collectstatic" in line]
    assert "DJANGO_SECRET_KEY=" in collect  # inline, for this command only
    # No ENV or ARG carries a secret into the image.
    for line in instructions("ENV") + instructions("ARG"):
        assert not re.search(r"SECRET|PASSWORD|PRIVATE|TOKEN", line, re.IGNORECASE), line
    env = " ".join(instructions("ENV"))
    assert "PYTHONUNBUFFERED=1" in env
    assert "DJANGO_SETTINGS_MODULE=marvelsite.settings" in env


def test_dockerignore_keeps_the_context_small_and_clean():
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "var", "staticfiles", "tests", "k8s"} <= ignored
    assert not any(line.startswith("!") for line in ignored)


def test_ci_runs_the_image_check():
    script = ROOT / "scripts" / "image-check"
    assert script.stat().st_mode & 0o111
    assert "scripts/image-check" in (ROOT / ".ci" / "run").read_text()
