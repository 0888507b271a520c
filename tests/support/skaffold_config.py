"""skaffold.yaml as loaded, its profiles, and the kustomize paths each deploys."""

import yaml

from tests.support.manifests import ROOT

CONFIG = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
PROFILES = {profile["name"]: profile for profile in CONFIG["profiles"]}


def kustomize_paths(profile=None):
    manifests = (PROFILES[profile] if profile else CONFIG).get("manifests", CONFIG["manifests"])
    return manifests["kustomize"]["paths"]
