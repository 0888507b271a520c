"""Write every rendering users can get to a folder, one file each, for external judges.

    python -m tests.support.render_all OUT

The overlays; prod with every subset of its optional components, on either storage; and
k8s/cluster with the Kyverno policies. scripts/checkov-check runs checkov over them.
"""

import itertools
import sys
from pathlib import Path

import yaml

from tests.support.manifests import (
    OPTIONAL_COMPONENTS,
    render,
    render_edited,
    render_overlay,
    render_variant,
    with_component,
)

# What Skaffold puts in place of the artifact name `marvelsite` when it deploys a pushed image:
# name:tag@digest. A placeholder of that shape, so the judges see what the cluster gets.
APP_IMAGE = "marvelsite"
DEPLOYED_APP_IMAGE = "registry.example.com/you/marvelsite:v1@sha256:" + "0" * 64
ONDAT = ("  - ../../components/longhorn\n", "  - ../../components/ondat\n")
POLICIES = (
    "# components:\n#   - ../components/policies\n",
    "components:\n  - ../components/policies\n",
)


def renderings():
    yield "dev", render_overlay("dev")
    for storage in ("longhorn", "ondat"):
        for count in range(len(OPTIONAL_COMPONENTS) + 1):
            for extra in itertools.combinations(OPTIONAL_COMPONENTS, count):
                edits = [with_component(name) for name in extra]
                if storage == "ondat":
                    edits.append(ONDAT)
                name = "+".join(["prod", *extra, *([storage] if storage == "ondat" else [])])
                yield name, render_variant("prod", *edits) if edits else render_overlay("prod")
    yield "cluster", render("k8s/cluster")
    yield "cluster+policies", render_edited("cluster", POLICIES)


def as_deployed(node):
    """A copy of a document with the Skaffold artifact's image as Skaffold deploys it."""
    if isinstance(node, dict):
        return {
            key: DEPLOYED_APP_IMAGE if key == "image" and value == APP_IMAGE else as_deployed(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [as_deployed(value) for value in node]
    return node


def main(out: str) -> None:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for name, docs in renderings():
        docs = [as_deployed(doc) for doc in docs]
        (folder / f"{name}.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
        print(f"render_all: {name}: {len(docs)} objects")


if __name__ == "__main__":
    main(*sys.argv[1:])
