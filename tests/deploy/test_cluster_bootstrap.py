"""State outside the pipeline: what Skaffold deploys it may delete without loss.

Namespaces, StorageClasses, claims and Secrets with data live in k8s/cluster, applied once by a
person; docs/kubernetes.md makes them (and installs every chart, pinned) before the
first deploy.
"""

import re

import pytest

from tests.support.manifests import (
    OPTIONAL_COMPONENTS,
    ROOT,
    STATE_KINDS,
    find,
    one,
    render,
    render_cluster,
    render_variant,
    with_component,
)
from tests.support.skaffold_config import PROFILES, kustomize_paths

WALKTHROUGH = (ROOT / "docs" / "kubernetes.md").read_text()


def deployed_sets():
    """(label, docs) of every profile's kustomize paths and prod's optional components."""
    for profile in [None, *PROFILES]:
        for path in kustomize_paths(profile):
            yield f"{profile or 'default'}:{path}", render(path)
    for component in OPTIONAL_COMPONENTS:
        yield f"prod+{component}", render_variant("prod", with_component(component))


@pytest.mark.parametrize(("label", "docs"), list(deployed_sets()))
def test_skaffold_deploys_nothing_it_cannot_delete_without_loss(label, docs):
    for doc in docs:
        where = f"{label}: {doc['kind']}/{doc['metadata']['name']}"
        assert doc["kind"] not in STATE_KINDS, where
        if doc["kind"] == "Secret":
            assert not doc.get("data"), where
            assert not doc.get("stringData"), where


def test_the_check_catches_state():
    # The same check on the bootstrap finds every kind it must keep out of the pipeline.
    kinds = {doc["kind"] for doc in render_cluster()}
    assert {"Namespace", "StorageClass", "PersistentVolumeClaim", "Secret"} <= kinds


def test_cluster_makes_the_namespaces_restricted():
    docs = render_cluster()
    namespaces = {doc["metadata"]["name"]: doc for doc in find(docs, "Namespace")}
    assert set(namespaces) == {"dev", "prod"}
    for namespace in namespaces.values():
        labels = namespace["metadata"]["labels"]
        for mode in ("enforce", "warn", "audit"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted", mode


def test_cluster_holds_prod_storage_and_dev_throwaway_secrets():
    prod = render_cluster("prod")
    claim = one(prod, "PersistentVolumeClaim", "mongodb-backups")
    assert claim["metadata"]["namespace"] == "prod"
    [storage] = find(prod, "StorageClass")
    assert claim["spec"]["storageClassName"] == storage["metadata"]["name"]
    assert storage["reclaimPolicy"] == "Retain"
    assert find(prod, "Secret") == []  # prod's are made by hand, never in git
    dev_secrets = find(render_cluster("dev"), "Secret")
    assert {s["metadata"]["name"] for s in dev_secrets} == {
        "admin-password",
        "marvel-app-password",
        "django-secret",
    }


def shell_commands(text):
    """Commands of the walk-through's bash blocks, continuation lines joined."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        for command in re.sub(r"\\\n\s*", " ", block).splitlines():
            command = command.split("#", 1)[0].strip()
            if command:
                commands.append(command)
    return commands


def test_readme_makes_the_cluster_state_before_any_chart_or_deploy():
    commands = shell_commands(WALKTHROUGH)
    [bootstrap] = [i for i, c in enumerate(commands) if c == "kubectl apply -k k8s/cluster"]
    helm = [i for i, c in enumerate(commands) if re.match(r"helm (install|upgrade)", c)]
    deploys = [i for i, c in enumerate(commands) if c.startswith(("skaffold run", "skaffold dev"))]
    assert len(helm) >= 4  # MCK, cert-manager, Longhorn, kube-prometheus-stack
    assert deploys
    assert bootstrap < min(helm + deploys)
    # No step of the walk-through makes a namespace the bootstrap holds.
    for command in commands:
        assert not re.search(r"create namespace (dev|prod)\b", command), command


def test_readme_pins_every_chart():
    commands = [c for c in shell_commands(WALKTHROUGH) if re.match(r"helm (install|upgrade)", c)]
    for command in commands:
        assert re.search(r"--version v?\d+\.\d+\.\d+\b", command), command
