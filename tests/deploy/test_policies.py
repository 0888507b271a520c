"""Policy as code: the Kyverno policies component, replayed here on its own fixtures and on
the rendered manifests (no Kyverno CLI installs here), and checkov's skip list."""

import fnmatch
import re

import pytest
import yaml

from tests.support.checkov_report import judge
from tests.support.manifests import (
    K8S,
    ROOT,
    containers,
    find,
    pod_template,
    render_edited,
    render_overlay,
    render_variant,
    with_component,
)
from tests.support.render_all import POLICIES, as_deployed

POLICY_DIR = K8S / "components" / "policies"
TEST = yaml.safe_load((POLICY_DIR / "kyverno-test.yaml").read_text())
FIXTURES = [
    doc
    for path in TEST["resources"]
    for doc in yaml.safe_load_all((POLICY_DIR / path).read_text())
    if doc
]
POLICIES_BY_NAME = {
    doc["metadata"]["name"]: doc
    for path in TEST["policies"]
    for doc in yaml.safe_load_all((POLICY_DIR / path).read_text())
}

# Pod Security Standards, restricted (kubernetes.io/docs/concepts/security/pod-security-standards).
RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
}  # fmt: skip


def restricted_violations(spec: dict) -> list[str]:
    """What breaks the restricted profile in a pod spec (empty: it passes)."""
    found = []
    pod = spec.get("securityContext", {})
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            found.append(field)
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            found.append(f"volume {volume['name']}: {sorted(kinds)}")
    for container in containers(spec):
        context = container.get("securityContext", {})
        name = container["name"]
        if context.get("privileged"):
            found.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation")
        capabilities = context.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            found.append(f"{name}: capabilities not dropped")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: capabilities added")
        if not context.get("runAsNonRoot", pod.get("runAsNonRoot")):
            found.append(f"{name}: runAsNonRoot")
        if context.get("runAsUser", pod.get("runAsUser")) == 0:
            found.append(f"{name}: runAsUser 0")
        seccomp = context.get("seccompProfile", pod.get("seccompProfile", {}))
        if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccompProfile")
        if any(port.get("hostPort") for port in container.get("ports", [])):
            found.append(f"{name}: hostPort")
    return found


def image_matches(image: str, pattern: str) -> bool:
    """A Kyverno string pattern: wildcards, and a leading "!" for "not"."""
    if pattern.startswith("!"):
        return not fnmatch.fnmatchcase(image, pattern[1:])
    return fnmatch.fnmatchcase(image, pattern)


def rule_applies(rule: dict, pod: dict) -> bool:
    namespace = pod["metadata"].get("namespace")
    labels = pod["metadata"].get("labels", {})
    for match in rule["match"]["any"]:
        if namespace not in match["resources"].get("namespaces", [namespace]):
            return False
    for exclude in rule.get("exclude", {}).get("any", []):
        wanted = exclude["resources"]["selector"]["matchLabels"]
        if wanted.items() <= labels.items():
            return False
    return True


def evaluate(rule: dict, pod: dict) -> str:
    """pass, fail or skip, as `kyverno test` reports a rule on a Pod."""
    if not rule_applies(rule, pod):
        return "skip"
    validate = rule["validate"]
    if "podSecurity" in validate:
        assert validate["podSecurity"]["level"] == "restricted"
        return "fail" if restricted_violations(pod["spec"]) else "pass"
    spec_pattern = validate["pattern"]["spec"]
    # `=(initContainers)`: checked only when present; `containers`: always.
    patterns = {
        key.removeprefix("=(").removesuffix(")"): value[0]["image"]
        for key, value in spec_pattern.items()
    }
    for field, pattern in patterns.items():
        for container in pod["spec"].get(field, []):
            if not image_matches(container["image"], pattern):
                return "fail"
    return "pass"


def test_policies_enforce():
    assert set(POLICIES_BY_NAME) == {
        "marvelsite-restricted",
        "marvelsite-image-tags",
        "marvelsite-image-digests",
    }
    for policy in POLICIES_BY_NAME.values():
        assert policy["apiVersion"] == "kyverno.io/v1"
        assert policy["kind"] == "ClusterPolicy"
        for rule in policy["spec"]["rules"]:
            assert rule["validate"]["failureAction"] == "Enforce", rule["name"]


@pytest.mark.parametrize("expected", TEST["results"], ids=lambda r: f"{r['rule']}-{r['result']}")
def test_fixture_results_follow_from_the_rules(expected):
    policy = POLICIES_BY_NAME[expected["policy"]]
    [rule] = [r for r in policy["spec"]["rules"] if r["name"] == expected["rule"]]
    pods = {pod["metadata"]["name"]: pod for pod in FIXTURES}
    for name in expected["resources"]:
        assert evaluate(rule, pods[name]) == expected["result"], name


def test_fixtures_cover_every_rule_both_ways():
    outcomes = {(r["policy"], r["rule"], r["result"]) for r in TEST["results"]}
    for policy in POLICIES_BY_NAME.values():
        for rule in policy["spec"]["rules"]:
            for result in ("pass", "fail"):
                assert (policy["metadata"]["name"], rule["name"], result) in outcomes


def pods_of(docs, namespace):
    """Each workload's pod, as the cluster gets it (the app image as Skaffold deploys it)."""
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job", "CronJob"):
            template = as_deployed(pod_template(doc))
            yield (
                doc["metadata"]["name"],
                {
                    "metadata": {**template["metadata"], "namespace": namespace},
                    "spec": template["spec"],
                },
            )


RENDERINGS = {
    "dev": lambda: render_overlay("dev"),
    "prod": lambda: render_overlay("prod"),
    "prod+metrics": lambda: render_variant("prod", with_component("metrics")),
    "prod+marvel-api": lambda: render_variant("prod", with_component("marvel-api")),
}


@pytest.mark.parametrize("name", sorted(RENDERINGS))
def test_every_rendered_pod_passes_every_rule(name):
    namespace = name.split("+")[0]
    docs = RENDERINGS[name]()
    pods = list(pods_of(docs, namespace))
    assert pods
    for where, pod in pods:
        for policy in POLICIES_BY_NAME.values():
            for rule in policy["spec"]["rules"]:
                result = evaluate(rule, pod)
                expected = {"pass", "skip"} if namespace == "dev" else {"pass"}
                assert result in expected, f"{name}: {where} {rule['name']} {result}"


def test_the_digest_rule_would_catch_an_unpinned_backup_image():
    [(_, pod)] = [p for p in pods_of(render_overlay("prod"), "prod") if p[0] == "mongodb-backup"]
    pod["spec"]["containers"][0]["image"] = "mongo:8.0.17"
    [rule] = POLICIES_BY_NAME["marvelsite-image-digests"]["spec"]["rules"]
    assert evaluate(rule, pod) == "fail"


def test_mongodb_pods_meet_restricted_as_far_as_the_cr_sets_them():
    # MCK writes the rest (its init containers, volumes); MCK >= 1.9 meets restricted.
    for overlay in ("dev", "prod"):
        [resource] = find(render_overlay(overlay), "MongoDBCommunity")
        spec = resource["spec"]["statefulSet"]["spec"]["template"]["spec"]
        assert restricted_violations(spec) == []


def test_the_cluster_bootstrap_lists_the_policies_one_line_away():
    docs = render_edited("cluster", POLICIES)
    policies = find(docs, "ClusterPolicy")
    assert {p["metadata"]["name"] for p in policies} == set(POLICIES_BY_NAME)
    for policy in policies:
        assert "namespace" not in policy["metadata"]  # cluster-scoped


# --- checkov ---------------------------------------------------------------------------------

SKIPS = yaml.safe_load((ROOT / ".ci" / "checkov-skips.yaml").read_text())


def test_every_checkov_skip_names_one_resource_and_says_why():
    assert SKIPS
    for skip in SKIPS:
        assert set(skip) == {"check", "resource", "reason"}
        assert re.fullmatch(r"CKV_[A-Z0-9]+_\d+", skip["check"])
        assert len(skip["reason"].split()) >= 8, skip


def test_checkov_report_fails_new_findings_and_stale_skips():
    skips = [{"check": "CKV_K8S_1", "resource": "Deployment.prod.x", "reason": "because"}]
    listed = [("CKV_K8S_1", "Deployment.prod.x", "prod.yaml")]
    assert judge(skips, listed) == []
    new = [*listed, ("CKV_K8S_2", "Deployment.prod.x", "prod.yaml")]
    assert judge(skips, new) == ["FAILED CKV_K8S_2 Deployment.prod.x (prod.yaml)"]
    assert judge(skips, []) == ["stale skip: CKV_K8S_1 Deployment.prod.x"]
    assert judge([{**skips[0], "reason": " "}], listed) != []


def test_ci_runs_checkov_pinned_with_hashes():
    assert "./scripts/checkov-check" in (ROOT / ".ci" / "run").read_text()
    lock = (ROOT / "requirements" / "checkov.txt").read_text()
    assert re.search(r"^checkov==\d+\.\d+\.\d+ \\\n\s+--hash=sha256:", lock, re.MULTILINE)
    script = (ROOT / "scripts" / "checkov-check").read_text()
    assert "--require-hashes" in script
    assert "--framework dockerfile -f Dockerfile" in script
