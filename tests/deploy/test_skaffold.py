"""Offline checks of skaffold.yaml: schema, every path it names, and the dev loop it promises."""

import re
import shlex
import subprocess

import pytest
import yaml

from tests.support.manifests import (
    ROOT,
    SCHEMAS,
    containers,
    one,
    pod_specs,
    render,
    require_shared,
    tool,
)
from tests.support.skaffold_config import CONFIG, PROFILES, kustomize_paths


def test_schema():
    assert CONFIG["apiVersion"] in {"skaffold/v4beta13", "skaffold/v4beta14"}
    schema = require_shared(SCHEMAS / f"skaffold-{CONFIG['apiVersion'].split('/')[1]}.json")
    result = subprocess.run(
        [tool("check-jsonschema"), "--schemafile", str(schema), str(ROOT / "skaffold.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_an_unknown_field(tmp_path):
    schema = require_shared(SCHEMAS / f"skaffold-{CONFIG['apiVersion'].split('/')[1]}.json")
    broken = tmp_path / "skaffold.yaml"
    broken.write_text(yaml.safe_dump({**CONFIG, "deploy": {"kubectl": {"flagz": {}}}}))
    result = subprocess.run(
        [tool("check-jsonschema"), "--schemafile", str(schema), str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0


def test_one_artifact_from_the_dockerfile():
    [artifact] = CONFIG["build"]["artifacts"]
    context = ROOT / artifact.get("context", ".")
    assert (context / artifact["docker"]["dockerfile"]).is_file()


@pytest.mark.parametrize("profile", [None, "dev", "prod", "multiarch"])
def test_every_kustomize_path_renders_the_artifact_image(profile):
    images = {a["image"] for a in CONFIG["build"]["artifacts"]}
    for path in kustomize_paths(profile):
        assert (ROOT / path / "kustomization.yaml").is_file(), path
        docs = render(path)
        used = {c["image"] for _, spec in pod_specs(docs) for c in containers(spec)}
        assert images <= used, f"{path} uses {used}, Skaffold builds {images}"
        # Anything else is a published image (the backups' mongo), pinned to a version and
        # its digest.
        for image in used - images:
            assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+@sha256:[0-9a-f]{64}", image), image


def test_default_is_dev_prod_is_a_profile():
    assert kustomize_paths() == ["k8s/overlays/dev"]
    assert kustomize_paths("prod") == ["k8s/overlays/prod"]


def strings(node):
    """Every string anywhere in a parsed YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
    elif isinstance(node, str):
        yield node


def test_nothing_is_force_applied():
    # `kubectl apply --force` deletes and re-creates any object whose patch fails: none here,
    # in any flag list, hook or profile.
    assert not [text for text in strings(CONFIG) if "--force" in text]


def deploy_hooks(profile=None):
    deploy = (PROFILES[profile] if profile else CONFIG).get("deploy", CONFIG["deploy"])
    return deploy["kubectl"]["hooks"]["before"]


@pytest.mark.parametrize(
    ("profile", "namespace"), [(None, "dev"), ("dev", "dev"), ("prod", "prod")]
)
def test_jobs_and_only_jobs_are_deleted_before_each_deploy(profile, namespace):
    # A Job's pod template is immutable: deleting migrate and seed-marvel before the apply
    # lets it create them again, so they run for every new image.
    [hook] = deploy_hooks(profile)
    shell, flag, script = hook["host"]["command"]
    assert (shell, flag) == ("sh", "-c")
    words = shlex.split(script)
    assert words[0] == "kubectl"
    assert words[words.index("--namespace") + 1] == namespace
    assert words[words.index("--context") + 1] == "$SKAFFOLD_KUBE_CONTEXT"  # skaffold's own
    verb = words.index("delete")
    assert words[verb + 1] == "job"  # the kind: nothing but Jobs
    names = [word for word in words[verb + 2 :] if not word.startswith("-")]
    assert "--ignore-not-found" in words  # the first deploy has none
    [path] = kustomize_paths(profile)
    jobs = [doc for doc in render(path) if doc["kind"] == "Job"]
    assert sorted(names) == sorted(job["metadata"]["name"] for job in jobs)
    assert {job["metadata"]["namespace"] for job in jobs} == {namespace}
    # Deleting them loses nothing: finished Jobs go anyway, and both are idempotent.
    for job in jobs:
        assert job["spec"]["ttlSecondsAfterFinished"] > 0


@pytest.mark.parametrize(("profile", "namespace"), [(None, "dev"), ("prod", "prod")])
def test_port_forward_of_the_frontend(profile, namespace):
    forwards = (PROFILES[profile] if profile else CONFIG).get("portForward", CONFIG["portForward"])
    [forward] = forwards
    assert forward == {
        "resourceType": "service",
        "resourceName": "marvel-frontend",
        "namespace": namespace,
        "port": 80,
        "localPort": 8080,
    }
    [path] = kustomize_paths(profile)
    docs = render(path)
    service = one(docs, "Service", forward["resourceName"])
    assert service["metadata"]["namespace"] == namespace
    assert [p["port"] for p in service["spec"]["ports"]] == [forward["port"]]


def test_dev_profile_syncs_templates_static_and_python():
    dev = PROFILES["dev"]
    assert dev["activation"] == [{"command": "dev"}]
    [patch] = dev["patches"]
    assert (patch["op"], patch["path"]) == ("add", "/build/artifacts/0/sync")
    rules = patch["value"]["manual"]
    sources = {rule["src"] for rule in rules}
    assert {"templates/**", "static/**"} <= sources
    assert any(src.endswith("*.py") for src in sources)
    for rule in rules:
        assert rule["dest"] == "."  # relative to the image's WORKDIR, /app
        assert list(ROOT.glob(rule["src"])), f"{rule['src']} matches no file"


def test_dev_sync_targets_can_be_written():
    # Synced files land in the running container: its root filesystem must be writable in
    # dev, gunicorn must reload Python, and Django must cache neither templates nor pages.
    docs = render("k8s/overlays/dev")
    [app] = one(docs, "Deployment", "marvel-frontend")["spec"]["template"]["spec"]["containers"]
    assert app["securityContext"]["readOnlyRootFilesystem"] is False
    [config] = [
        d["data"]
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("marvelsite-config-")
    ]
    assert config["GUNICORN_RELOAD"] == "true"
    assert config["DJANGO_DEBUG"] == "true"
    assert config["MARVELSITE_PAGE_CACHE_SECONDS"] == "0"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY --chown=app:app . ." in dockerfile
    assert "WORKDIR /app" in dockerfile


def test_multiarch_profile_builds_with_buildx():
    multiarch = PROFILES["multiarch"]
    assert set(multiarch["build"]["platforms"]) == {"linux/amd64", "linux/arm64"}
    [artifact] = multiarch["build"]["artifacts"]
    assert artifact["image"] == CONFIG["build"]["artifacts"][0]["image"]
    assert "docker buildx build" in artifact["custom"]["buildCommand"]
    assert (ROOT / artifact["custom"]["dependencies"]["dockerfile"]["path"]).is_file()
