"""Prod's hardening, on the rendered manifests: MongoDB sized and over TLS, default-deny
network policies with explicit allows, and a rollout that drops no request."""

import re

import jsonschema
import pytest

from tests.support.manifests import (
    CERT_MANAGER_SCHEMAS,
    containers,
    crd_schema,
    find,
    one,
    pod_specs,
    render_overlay,
    render_variant,
    require_shared,
    with_component,
)
from tests.support.skaffold_config import CONFIG

CRD_KIND = "MongoDBCommunity"
APP_LABEL = {"app.kubernetes.io/name": "marvelsite"}
MEMBERS = {"app": "mongodb-svc"}
DNS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
GIB = 1024**3

# An uncached page's CPU in the Django process, rounded up (docs/benchmarks.md, "Figures
# the other pages point to").
UNCACHED_PAGE_CPU_MS = 20


def quantity(text):
    units = {"Ki": 1024, "Mi": 1024**2, "Gi": GIB, "M": 10**6, "G": 10**9}
    number, unit = re.fullmatch(r"([\d.]+)([A-Za-z]*)", str(text)).groups()
    return float(number) * units.get(unit, 1)


def config(docs):
    data = {}
    for cm in find(docs, "ConfigMap"):
        data |= cm["data"]
    return data


# --- MongoDB sized --------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_mongod_and_agent_have_explicit_resources_and_a_cache_that_fits(overlay):
    spec = one(render_overlay(overlay), CRD_KIND, "mongodb")["spec"]
    template = spec["statefulSet"]["spec"]["template"]["spec"]
    by_name = {c["name"]: c for c in template["containers"]}
    assert set(by_name) == {"mongod", "mongodb-agent"}  # MCK's container names
    for container in by_name.values():
        resources = container["resources"]
        assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
    mongod = by_name["mongod"]["resources"]
    limit = quantity(mongod["limits"]["memory"])
    # No overcommit for the database: evicted last.
    assert quantity(mongod["requests"]["memory"]) == limit
    cache_gb = spec["additionalMongodConfig"]["storage.wiredTiger.engineConfig.cacheSizeGB"]
    # MongoDB's own rule, on the limit instead of the node: 50 % of (RAM - 1 GB), at least
    # 0.25 GB; and never more than half the limit.
    assert cache_gb == max(0.25, 0.5 * (limit - GIB) / GIB)
    assert cache_gb * GIB <= limit / 2
    # More than MCK's default 500M that OOM-killed WiredTiger.
    assert limit > 500 * 10**6


def test_dev_fits_a_one_node_cluster():
    docs = render_overlay("dev")
    spec = one(docs, CRD_KIND, "mongodb")["spec"]
    assert spec["members"] == 1
    seeds = [key for key in config(docs) if key.startswith("MONGO_SEED")]
    assert seeds == ["MONGO_SEED0"]  # the one member there is
    cpu = sum(
        quantity(str(c["resources"]["requests"]["cpu"]).replace("m", "")) / 1000
        for c in spec["statefulSet"]["spec"]["template"]["spec"]["containers"]
    )
    memory = sum(
        quantity(c["resources"]["requests"]["memory"])
        for c in spec["statefulSet"]["spec"]["template"]["spec"]["containers"]
    )
    for _, pod in pod_specs(docs):
        for container in containers(pod):
            request = container["resources"]["requests"]
            cpu += quantity(str(request["cpu"]).replace("m", "")) / 1000
            memory += quantity(request["memory"])
    # Every pod at once on a 2-CPU, 4 GB node, beside k3s's own.
    assert cpu <= 1.0
    assert memory <= 2.5 * GIB


# --- TLS ------------------------------------------------------------------------------------


def test_cert_manager_objects_match_their_schemas():
    docs = render_overlay("prod")
    for kind, path in CERT_MANAGER_SCHEMAS.items():
        schema = crd_schema(require_shared(path), "v1")
        for doc in find(docs, kind):
            jsonschema.validate(doc, schema)
    assert len(find(docs, "Certificate")) == 2
    assert len(find(docs, "Issuer")) == 2


def test_prod_mongodb_serves_tls_with_a_certificate_for_every_name_it_is_reached_by():
    docs = render_overlay("prod")
    resource = one(docs, CRD_KIND, "mongodb")
    tls = resource["spec"]["security"]["tls"]
    assert tls["enabled"] is True
    assert not tls.get("optional")  # TLS required, not offered
    certificate = one(docs, "Certificate", "mongodb-tls")
    assert tls["certificateKeySecretRef"]["name"] == certificate["spec"]["secretName"]
    assert tls["caCertificateSecretRef"]["name"] == certificate["spec"]["secretName"]
    ca_issuer = one(docs, "Issuer", certificate["spec"]["issuerRef"]["name"])
    ca = one(docs, "Certificate", "mongodb-ca")
    assert ca["spec"]["isCA"] is True
    assert ca_issuer["spec"]["ca"]["secretName"] == ca["spec"]["secretName"]
    names = certificate["spec"]["dnsNames"]
    cr = resource["metadata"]["name"]
    # The seed hosts the app dials, and the full names MCK puts in the replica set config.
    for seed in [v for k, v in config(docs).items() if k.startswith("MONGO_SEED")]:
        assert any(re.fullmatch(n.replace(".", r"\.").replace("*", r"[^.]+"), seed) for n in names)
    assert f"*.{cr}-svc.prod.svc.cluster.local" in names
    assert {"server auth", "client auth"} <= set(certificate["spec"]["usages"])


def test_every_client_of_mongodb_verifies_the_ca_from_a_mounted_secret():
    docs = render_overlay("prod")
    ca_file = config(docs)["MONGO_TLS_CA_FILE"]
    certificate = one(docs, "Certificate", "mongodb-tls")
    for where, spec in pod_specs(docs):
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in containers(spec):
            at = f"{where}/{container['name']}"
            [mount] = [m for m in container["volumeMounts"] if ca_file.startswith(m["mountPath"])]
            assert mount["readOnly"] is True, at
            secret = volumes[mount["name"]]["secret"]
            assert secret["secretName"] == certificate["spec"]["secretName"], at
            # ca.crt alone: the members' private key never reaches an app pod.
            assert secret["items"] == [{"key": "ca.crt", "path": ca_file.rsplit("/", 1)[1]}], at


def test_dev_has_no_tls():
    docs = render_overlay("dev")
    assert "tls" not in one(docs, CRD_KIND, "mongodb")["spec"]["security"]
    assert "MONGO_TLS_CA_FILE" not in config(docs)


# --- default-deny network policies ----------------------------------------------------------


def policies(docs):
    return {p["metadata"]["name"]: p["spec"] for p in find(docs, "NetworkPolicy")}


def test_prod_denies_everything_by_default():
    spec = policies(render_overlay("prod"))["default-deny"]
    assert spec == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_every_pod_may_resolve_names_and_nothing_else_from_that_rule():
    spec = policies(render_overlay("prod"))["dns-egress"]
    assert spec["podSelector"] == {}
    [rule] = spec["egress"]
    assert rule["to"] == [DNS]
    assert {(p["protocol"], p["port"]) for p in rule["ports"]} == {("UDP", 53), ("TCP", 53)}


def test_the_app_pods_reach_mongod_only():
    docs = render_overlay("prod")
    spec = policies(docs)["marvelsite-to-mongodb"]
    assert spec["podSelector"] == {"matchLabels": APP_LABEL}
    assert spec["policyTypes"] == ["Egress"]
    assert spec["egress"] == [
        {
            "to": [{"podSelector": {"matchLabels": MEMBERS}}],
            "ports": [{"protocol": "TCP", "port": 27017}],
        }
    ]
    # The frontend, both Jobs and the backups all carry the label the rule selects.
    for where, _ in pod_specs(docs):
        doc = next(d for d in docs if f"{d['kind']}/{d['metadata']['name']}" == where)
        spec_root = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
        assert APP_LABEL.items() <= spec_root["template"]["metadata"]["labels"].items(), where


def test_members_reach_each_other_and_the_api_server():
    spec = policies(render_overlay("prod"))["mongodb-egress"]
    assert spec["podSelector"] == {"matchLabels": MEMBERS}
    peers, api = spec["egress"]
    assert peers == {
        "to": [{"podSelector": {"matchLabels": MEMBERS}}],
        "ports": [{"protocol": "TCP", "port": 27017}],
    }
    assert "to" not in api
    assert {p["port"] for p in api["ports"]} == {443, 6443}


def test_no_seed_egress_to_the_internet_without_the_marvel_api_component():
    docs = render_overlay("prod")
    assert "seed-marvel-api-egress" not in policies(docs)
    [seed] = [c for w, s in pod_specs(docs) if w == "Job/seed-marvel" for c in s["containers"]]
    assert not [e for e in seed.get("env", []) if e["name"].startswith("MARVEL_")]


def test_the_marvel_api_component_mounts_the_keys_and_opens_https_for_the_seed_only():
    docs = render_variant("prod", with_component("marvel-api"))
    spec = policies(docs)["seed-marvel-api-egress"]
    assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "seed"
    [rule] = spec["egress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 443}]
    [block] = rule["to"]
    assert block["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert "10.0.0.0/8" in block["ipBlock"]["except"]  # not the cluster's own network
    specs = dict(pod_specs(docs))
    [seed] = specs["Job/seed-marvel"]["containers"]
    env = {e["name"]: e["value"] for e in seed["env"]}
    volumes = {v["name"]: v for v in specs["Job/seed-marvel"]["volumes"]}
    mounts = {m["mountPath"]: m for m in seed["volumeMounts"]}
    for name in ("MARVEL_PUBLIC_KEY", "MARVEL_PRIVATE_KEY"):
        folder, key = env[f"{name}_FILE"].rsplit("/", 1)
        assert key == name  # the Secret's key, as docs/kubernetes.md makes it
        assert mounts[folder]["readOnly"] is True
        assert volumes[mounts[folder]["name"]]["secret"]["secretName"] == "marvel-api"


# --- rollout ---------------------------------------------------------------------------------


def test_frontend_drains_before_it_stops():
    docs = render_overlay("prod")
    pod = one(docs, "Deployment", "marvel-frontend")["spec"]["template"]["spec"]
    [app] = pod["containers"]
    sleep = app["lifecycle"]["preStop"]["sleep"]["seconds"]
    graceful = int(config(docs)["GUNICORN_GRACEFUL_TIMEOUT"])
    # The kubelet's deadline covers the preStop sleep and gunicorn's graceful shutdown.
    assert sleep >= 5
    assert sleep + graceful < pod["terminationGracePeriodSeconds"]


def test_cpu_request_makes_the_autoscaler_target_a_real_load():
    docs = render_overlay("prod")
    [app] = one(docs, "Deployment", "marvel-frontend")["spec"]["template"]["spec"]["containers"]
    request_ms = quantity(str(app["resources"]["requests"]["cpu"]).replace("m", ""))
    target = one(docs, "HorizontalPodAutoscaler", "marvel-frontend")["spec"]["metrics"][0]
    utilization = target["resource"]["target"]["averageUtilization"]
    # The target must mean more than a handful of uncached pages per second per pod.
    assert request_ms * utilization / 100 / UNCACHED_PAGE_CPU_MS >= 10


def test_skaffold_waits_for_a_first_deploy():
    deploys = [CONFIG["deploy"]] + [p["deploy"] for p in CONFIG["profiles"] if "deploy" in p]
    for deploy in deploys:
        # MCK's replica set, then migrate's wait of up to 600 s, then readiness.
        assert deploy["statusCheckDeadlineSeconds"] >= 900
        assert deploy["tolerateFailuresUntilDeadline"] is True


def test_mongodb_pods_are_restricted_as_far_as_the_cr_can_say():
    for overlay in ("dev", "prod"):
        template = one(render_overlay(overlay), CRD_KIND, "mongodb")["spec"]["statefulSet"]
        pod = template["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            }
