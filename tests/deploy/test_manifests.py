"""Offline checks of k8s/: every overlay renders, validates strictly, and keeps its promises.

Core kinds are validated with kubernetes-validate --strict; the MongoDBCommunity resource
against the operator's CRD schema (../shared/schemas) made strict. The rest are the invariants
the deployment relies on (docs/kubernetes.md).
"""

import ast
import os
import re
import subprocess

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.support.manifests import (
    CRD_SCHEMA,
    K8S,
    OPTIONAL_COMPONENTS,
    OVERLAYS,
    ROOT,
    containers,
    crd_schema,
    find,
    one,
    pod_specs,
    pod_template,
    render_cluster,
    render_overlay,
    render_variant,
    require_shared,
    with_component,
)

APP_IMAGE = "marvelsite"  # the Skaffold artifact (tests/deploy/test_skaffold.py checks it there)
APP_UID = 10001  # the Dockerfile's USER (tests/deploy/test_dockerfile.py checks it there)
MONGO_IMAGE_UID = 999  # the official mongo image's `mongodb` user (the backup CronJob)
CRD_KIND = "MongoDBCommunity"
# Custom kinds with no schema in kubernetes-validate: each is checked by its own tests here.
CUSTOM_KINDS = {CRD_KIND, "ServiceMonitor", "Certificate", "Issuer"}
APP_WORKLOADS = {"Deployment/marvel-frontend", "Job/migrate", "Job/seed-marvel"}
BACKUP = "CronJob/mongodb-backup"
# MCK's operator pod, as its Helm chart labels it, where docs/kubernetes.md installs it.
OPERATOR_NAMESPACE = "mongodb-operator"
OPERATOR_POD_LABELS = {"app.kubernetes.io/name": "mongodb-kubernetes-operator"}
MONITORING_NAMESPACE = "monitoring"
INGRESS_CONTROLLER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}},
}
# MCK's ServiceAccount for MongoDBCommunity pods (the Community Operator's was mongodb-database).
APPDB_SERVICE_ACCOUNT = "mongodb-kubernetes-appdb"
SWITCH_TO_ONDAT = ("  - ../../components/longhorn\n", "  - ../../components/ondat\n")
ARTICLE_ADMIN_ROLES = {
    ("clusterAdmin", "admin"),
    ("userAdminAnyDatabase", "admin"),
    ("dbAdminAnyDatabase", "admin"),
    ("readWriteAnyDatabase", "admin"),
}
# Modules whose environment reads the ConfigMaps and Secrets feed.
ENV_READERS = [
    ROOT / "marvelsite" / "settings.py",
    ROOT / "marvelsite" / "db_config.py",
    ROOT / "marvelsite" / "gunicorn_conf.py",
    ROOT / "marvelsite" / "secrets_env.py",
    *sorted((ROOT / "characters" / "management" / "commands").glob("*.py")),
]


@pytest.fixture(params=OVERLAYS)
def overlay(request):
    return request.param, render_overlay(request.param)


# The overlays, and prod with each optional component or the other storage, one line each.
VARIANTS = {
    "dev": lambda: render_overlay("dev"),
    "prod": lambda: render_overlay("prod"),
    **{
        f"prod+{name}": (lambda name=name: render_variant("prod", with_component(name)))
        for name in OPTIONAL_COMPONENTS
    },
    "prod+ondat": lambda: render_variant("prod", SWITCH_TO_ONDAT),
}


@pytest.fixture(params=sorted(VARIANTS))
def variant(request):
    """(name, namespace, docs) of every rendering users can get with a one-line change."""
    return request.param, request.param.split("+")[0], VARIANTS[request.param]()


def kustomization(path):
    return yaml.safe_load((path / "kustomization.yaml").read_text())


def env_names_read_by_the_app() -> tuple[set[str], set[str]]:
    """(names, prefixes): string constants of the reader modules, f-string prefixes."""
    names, prefixes = set(), set()
    for path in ENV_READERS:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.add(node.value)
            elif isinstance(node, ast.JoinedStr) and isinstance(node.values[0], ast.Constant):
                prefixes.add(node.values[0].value)
    return names, prefixes


def config_map(docs, name):
    [found] = [d for d in find(docs, "ConfigMap") if d["metadata"]["name"].startswith(name + "-")]
    return found["data"]


# --- rendering and schemas ---------------------------------------------------------------


def test_kustomizations_use_current_fields_only():
    deprecated = {"commonLabels", "patchesStrategicMerge", "patchesJson6902", "bases", "vars"}
    files = sorted(K8S.rglob("kustomization.yaml"))
    assert len(files) >= 4  # base, components/*, overlays/dev, overlays/prod
    for path in files:
        used = deprecated & set(yaml.safe_load(path.read_text()))
        assert not used, f"{path.relative_to(ROOT)} uses deprecated {sorted(used)}"


def test_every_component_is_a_component_an_overlay_can_render():
    listed = {
        entry.removeprefix("../../components/")
        for name in OVERLAYS
        for entry in kustomization(K8S / "overlays" / name).get("components", [])
    }
    for folder in sorted((K8S / "components").iterdir()):
        assert kustomization(folder)["kind"] == "Component", folder.name
        # Rendered in an overlay: prod's list, an optional one-liner, or the storage switch;
        # or by k8s/cluster (Kyverno's policies, tests/deploy/test_policies.py).
        assert folder.name in listed | set(OPTIONAL_COMPONENTS) | {"ondat", "policies"}, folder.name


def test_prod_lists_its_policies_budgets_and_autoscaler_as_components():
    prod = K8S / "overlays" / "prod"
    components = kustomization(prod)["components"]
    for name in ("network-policies", "pod-disruption-budgets", "autoscaling", "longhorn", "tls"):
        assert f"../../components/{name}" in components
    assert sorted(p.name for p in prod.iterdir()) == ["kustomization.yaml"]


def test_core_kinds_validate_strictly(variant):
    name, _, docs = variant
    version = kubernetes_validate.latest_version()
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            # Only custom kinds may be unknown here (each validated below).
            assert doc["kind"] in CUSTOM_KINDS, f"{name}: no schema for {doc['kind']}"


def test_core_validation_rejects_unknown_fields():
    deployment = one(render_overlay("prod"), "Deployment", "marvel-frontend")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)


def test_mongodbcommunity_matches_the_crd_schema(variant):
    _, _, docs = variant
    resource = one(docs, CRD_KIND, "mongodb")
    group, version = resource["apiVersion"].split("/")
    assert group == "mongodbcommunity.mongodb.com"
    jsonschema.validate(resource, crd_schema(require_shared(CRD_SCHEMA), version))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "users", 0, "rolez"), []),  # a typo in a user
        (("spec", "security", "authentication", "mode"), "SCRAM"),  # singular of `modes`
        (("spec", "memberz"), 3),
    ],
)
def test_crd_validation_rejects_unknown_fields(path, value):
    resource = one(render_overlay("dev"), CRD_KIND, "mongodb")
    target = resource
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    schema = crd_schema(require_shared(CRD_SCHEMA), "v1")
    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        jsonschema.validate(resource, schema)


def test_crd_validation_keeps_preserved_fields_open():
    # statefulSet.spec is a whole StatefulSet spec: the CRD preserves unknown fields there.
    resource = one(render_overlay("prod"), CRD_KIND, "mongodb")
    resource["spec"]["statefulSet"]["spec"]["podManagementPolicy"] = "Parallel"
    jsonschema.validate(resource, crd_schema(require_shared(CRD_SCHEMA), "v1"))


# --- labels and namespaces ---------------------------------------------------------------


def test_every_object_is_labelled_and_namespaced(variant):
    name, namespace, docs = variant
    for doc in docs:
        where = f"{name}: {doc['kind']}/{doc['metadata']['name']}"
        assert doc["metadata"].get("namespace") == namespace, where
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "marvelsite", where


# --- the workloads -----------------------------------------------------------------------


def test_workloads_run_the_skaffold_image(overlay):
    name, docs = overlay
    specs = dict(pod_specs(docs))
    assert set(specs) == APP_WORKLOADS | ({BACKUP} if name == "prod" else set())
    for where in APP_WORKLOADS:
        for container in containers(specs[where]):
            assert container["image"] == APP_IMAGE, f"{where}/{container['name']}"


def test_every_container_has_requests_and_limits(variant):
    _, _, docs = variant
    for where, spec in pod_specs(docs):
        for container in containers(spec):
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert set(resources.get(bound, {})) >= {"cpu", "memory"}, (
                    f"{where}/{container['name']} lacks {bound}"
                )


def restricted_pod(where, spec):
    assert spec.get("automountServiceAccountToken") is False, where
    pod = spec.get("securityContext", {})
    assert pod.get("runAsNonRoot") is True, where
    assert pod.get("runAsUser") == (MONGO_IMAGE_UID if where == BACKUP else APP_UID), where
    assert pod.get("seccompProfile") == {"type": "RuntimeDefault"}, where


def test_every_pod_runs_restricted(variant):
    name, _, docs = variant
    for where, spec in pod_specs(docs):
        restricted_pod(where, spec)
        tmp_volumes = {volume["name"] for volume in spec.get("volumes", []) if "emptyDir" in volume}
        for container in containers(spec):
            context = container.get("securityContext", {})
            at = f"{where}/{container['name']}"
            assert context.get("allowPrivilegeEscalation") is False, at
            assert context.get("capabilities") == {"drop": ["ALL"]}, at
            assert context.get("runAsNonRoot") is True, at
            assert not context.get("privileged"), at
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            writable = mounts.get("/tmp")  # noqa: S108 - an emptyDir, checked here
            assert writable in tmp_volumes, f"{at}: /tmp is not an emptyDir"
            dev_sync = name == "dev" and where == "Deployment/marvel-frontend"
            # The one relaxation: `skaffold dev` writes synced files into the dev frontend.
            assert context.get("readOnlyRootFilesystem") is (not dev_sync), at


def test_frontend_probes_and_service(overlay):
    _, docs = overlay
    deployment = one(docs, "Deployment", "marvel-frontend")
    pod = deployment["spec"]["template"]
    [app] = pod["spec"]["containers"]
    ports = {port["name"]: port["containerPort"] for port in app["ports"]}
    assert ports == {"http": 8000}
    paths = {
        probe: (app[probe]["httpGet"]["path"], app[probe]["httpGet"]["port"])
        for probe in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    assert paths == {
        "startupProbe": ("/healthz", "http"),
        "readinessProbe": ("/readyz", "http"),
        "livenessProbe": ("/healthz", "http"),
    }
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()

    service = one(docs, "Service", "marvel-frontend")
    assert service["spec"]["selector"] == selector
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(80, "http")]


def test_jobs_migrate_then_seed(overlay):
    _, docs = overlay
    migrate = one(docs, "Job", "migrate")
    seed = one(docs, "Job", "seed-marvel")
    for job in (migrate, seed):
        assert job["spec"]["backoffLimit"] >= 1
        assert job["spec"]["ttlSecondsAfterFinished"] > 0
        assert 0 < job["spec"]["activeDeadlineSeconds"] <= 7200  # never runs forever
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    [run_migrate] = migrate["spec"]["template"]["spec"]["containers"]
    assert run_migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    [wait_for_db] = migrate["spec"]["template"]["spec"]["initContainers"]
    assert wait_for_db["command"][:3] == ["python", "manage.py", "wait_for_database"]
    assert "--migrated" not in wait_for_db["command"]  # before migrate: reachable is enough

    [run_seed] = seed["spec"]["template"]["spec"]["containers"]
    # seed_marvel's own --db-wait waits for the database and every migration.
    assert run_seed["command"][:3] == ["python", "manage.py", "seed_marvel"]
    assert "--db-wait" in run_seed["command"]
    assert "initContainers" not in seed["spec"]["template"]["spec"]


# --- MongoDB: the replica set, its users, and how the app reaches it ----------------------


def version_tuple(text):
    return tuple(int(part) for part in text.split("."))


def test_replica_set_shape(overlay):
    name, docs = overlay
    spec = one(docs, CRD_KIND, "mongodb")["spec"]
    assert spec["type"] == "ReplicaSet"
    # A majority that survives a lost node in prod; one small member on dev's one node.
    assert spec["members"] == {"prod": 3, "dev": 1}[name]
    # A current 8.0 (django-mongodb-backend needs >= 6.0); 8.0.17 fixes CVE-2025-14847.
    assert version_tuple(spec["version"])[:2] == (8, 0)
    assert version_tuple(spec["version"]) >= (8, 0, 17)
    assert spec["featureCompatibilityVersion"] == "8.0"
    assert spec["security"]["authentication"]["modes"] == ["SCRAM"]
    claims = {
        claim["metadata"]["name"]: claim["spec"]
        for claim in spec["statefulSet"]["spec"]["volumeClaimTemplates"]
    }
    assert set(claims) == {"data-volume", "logs-volume"}
    for claim in claims.values():
        assert claim["accessModes"] == ["ReadWriteOnce"]


def users_by_name(docs):
    return {user["name"]: user for user in one(docs, CRD_KIND, "mongodb")["spec"]["users"]}


def test_users_admin_for_operations_least_privilege_for_the_app(overlay):
    name, docs = overlay
    users = users_by_name(docs)
    mongo = config_map(docs, "mongo-config")
    backup_user = {"marvel-backup"} if name == "prod" else set()  # the backup component's
    assert set(users) == {"admin", mongo["MONGO_USERNAME"]} | backup_user
    admin = users["admin"]
    assert admin["db"] == "admin"
    assert {(r["name"], r["db"]) for r in admin["roles"]} == ARTICLE_ADMIN_ROLES
    app = users[mongo["MONGO_USERNAME"]]
    assert [(r["name"], r["db"]) for r in app["roles"]] == [("readWrite", mongo["MONGODB_NAME"])]
    assert app["db"] == mongo["MONGO_AUTH_SOURCE"]
    for user in users.values():
        assert user["scramCredentialsSecretName"]
    secrets = {user["scramCredentialsSecretName"] for user in users.values()}
    assert len(secrets) == len(users)


def mounted_secrets(spec):
    """Secrets of a pod's volumes: plain and projected."""
    names = set()
    for volume in spec.get("volumes", []):
        if "secret" in volume:
            names.add(volume["secret"]["secretName"])
        for source in volume.get("projected", {}).get("sources", []):
            if "secret" in source:
                names.add(source["secret"]["name"])
    return names


def referenced_secrets(spec):
    names = mounted_secrets(spec)
    for container in containers(spec):
        names |= {e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e}
        names |= {
            e["valueFrom"]["secretKeyRef"]["name"]
            for e in container.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})
        }
    return names


def test_the_app_never_gets_the_admin_password(overlay):
    _, docs = overlay
    admin_secret = users_by_name(docs)["admin"]["passwordSecretRef"]["name"]
    for where, spec in pod_specs(docs):
        assert admin_secret not in referenced_secrets(spec), where


def test_dev_secrets_made_by_the_cluster_bootstrap_are_the_ones_dev_names():
    docs = render_overlay("dev")
    # k8s/cluster/dev makes them once, with plain names: Skaffold never deploys a Secret.
    secrets = {s["metadata"]["name"]: s for s in find(render_cluster("dev"), "Secret")}
    for secret in secrets.values():
        assert secret["metadata"]["namespace"] == "dev"
    for user in users_by_name(docs).values():
        ref = user["passwordSecretRef"]
        assert ref["name"] in secrets, ref
        # The operator reads key `password` unless told otherwise: the article's lesson.
        assert ref.get("key", "password") == "password"
        assert set(secrets[ref["name"]]["data"]) == {"password"}
    for where, spec in pod_specs(docs):
        for name in referenced_secrets(spec):
            assert name in secrets, f"{where} refers to a missing Secret {name}"
        for volume in spec["volumes"]:
            for source in volume.get("projected", {}).get("sources", []):
                keys = {item["key"] for item in source["secret"]["items"]}
                assert keys <= set(secrets[source["secret"]["name"]]["data"]), where


# The Secrets docs/kubernetes.md tells operators to create by hand in prod, without a hash suffix.
PROD_SECRETS = {"admin-password", "marvel-app-password", "backup-password", "django-secret"}
# Made by cert-manager from the tls component's Certificate.
CERT_MANAGER_SECRETS = {"mongodb-tls"}


def test_prod_has_no_secret_in_git():
    assert "secretGenerator" not in kustomization(K8S / "overlays" / "prod")
    docs = render_overlay("prod")
    assert find(docs, "Secret") == []
    refs = {u["passwordSecretRef"]["name"] for u in users_by_name(docs).values()}
    assert refs == {"admin-password", "marvel-app-password", "backup-password"}
    for _, spec in pod_specs(docs):
        assert referenced_secrets(spec) <= PROD_SECRETS | CERT_MANAGER_SECRETS
    readme = (ROOT / "docs" / "kubernetes.md").read_text()
    for name in PROD_SECRETS | {"mongodb-metrics", "longhorn-crypto", "marvel-api"}:
        assert f"create secret generic {name}" in readme, name


def test_dev_secrets_are_marked_dev_only():
    text = (K8S / "cluster" / "dev" / "kustomization.yaml").read_text()
    assert "DEV ONLY" in text
    for generator in kustomization(K8S / "cluster" / "dev")["secretGenerator"]:
        for literal in generator["literals"]:
            assert "dev-only" in literal.split("=", 1)[1], literal


def test_seed_hosts_follow_the_operator_naming(overlay):
    _, docs = overlay
    resource = one(docs, CRD_KIND, "mongodb")
    mongo = config_map(docs, "mongo-config")
    seeds = [mongo[key] for key in sorted(mongo) if key.startswith("MONGO_SEED")]
    cr = resource["metadata"]["name"]
    # Pods <cr>-N behind the headless Service <cr>-svc, resolved in the pod's own namespace.
    assert seeds == [f"{cr}-{i}.{cr}-svc" for i in range(resource["spec"]["members"])]
    assert mongo["MONGO_REPLICA_SET"] == cr  # the operator names the replica set after the CR
    assert mongo["OFFSET"].isdigit()


def test_the_host_list_is_written_once():
    files = [
        path.relative_to(K8S)
        for path in sorted(K8S.rglob("*.yaml"))
        if "MONGO_SEED0=" in path.read_text()
    ]
    assert [str(path) for path in files] == ["base/kustomization.yaml"]


def test_config_map_keys_are_read_by_the_app(variant):
    _, _, docs = variant
    names, prefixes = env_names_read_by_the_app()
    keys = {key for cm in find(docs, "ConfigMap") for key in cm["data"]}
    keys |= {key for secret in find(docs, "Secret") for key in secret["data"]}
    keys -= {"password"}  # the operator's key, a file the app reads (MONGO_PASSWORD_FILE)
    assert keys
    for key in keys:
        # NAME_FILE: read by marvelsite/secrets_env.py for every secret NAME the app reads.
        read = (
            key in names
            or key.removesuffix("_FILE") in names
            or any(key.startswith(prefix) and key[len(prefix) :].isdigit() for prefix in prefixes)
        )
        assert read, f"{key} is not read by {', '.join(p.name for p in ENV_READERS)}"


def secret_files(spec, container):
    """{path of each file a container sees: (Secret, key)} from its read-only mounts."""
    volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
    files = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        sources = [{"secret": volume["secret"]}] if "secret" in volume else []
        sources += volume.get("projected", {}).get("sources", [])
        for source in sources:
            if "secret" not in source:
                continue
            assert mount.get("readOnly") is True, mount
            secret = source["secret"]
            name = secret.get("name") or secret["secretName"]
            for item in secret["items"]:
                files[f"{mount['mountPath']}/{item['path']}"] = (name, item["key"])
    return files


def test_every_workload_gets_the_same_database_settings(overlay):
    _, docs = overlay
    specs = dict(pod_specs(docs))
    for where in APP_WORKLOADS:
        for container in containers(specs[where]):
            at = f"{where}/{container['name']}"
            sources = [
                # Without kustomize's hash suffix.
                re.sub(r"-[a-z0-9]{10}$", "", e["configMapRef"]["name"])
                for e in container["envFrom"]
            ]
            assert sources == ["marvelsite-config", "mongo-config"], at
            settings = config_map(docs, "marvelsite-config") | config_map(docs, "mongo-config")
            files = secret_files(specs[where], container)
            # The password of the Secret the operator reads (key `password`), as a file.
            assert files[settings["MONGO_PASSWORD_FILE"]] == ("marvel-app-password", "password")
            assert files[settings["DJANGO_SECRET_KEY_FILE"]] == (
                "django-secret",
                "DJANGO_SECRET_KEY",
            )


def test_no_secret_is_an_environment_variable(variant):
    name, _, docs = variant
    for where, spec in pod_specs(docs):
        for container in containers(spec):
            at = f"{name}: {where}/{container['name']}"
            assert not [e for e in container.get("envFrom", []) if "secretRef" in e], at
            assert not [
                e for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})
            ], at
            for volume in spec.get("volumes", []):
                for source in [volume] + volume.get("projected", {}).get("sources", []):
                    if "secret" in source:
                        mode = (volume.get("projected") or volume["secret"]).get("defaultMode")
                        assert mode is not None, f"{at}: {volume['name']}"
                        assert mode & 0o007 == 0, f"{at}: {volume['name']}"  # no other user


# --- per-environment ---------------------------------------------------------------------


def test_dev_overlay():
    docs = render_overlay("dev")
    assert one(docs, "Deployment", "marvel-frontend")["spec"]["replicas"] == 1
    assert find(docs, "StorageClass") == []  # the local cluster's default storage (k3s)
    claims = one(docs, CRD_KIND, "mongodb")["spec"]["statefulSet"]["spec"]["volumeClaimTemplates"]
    assert all("storageClassName" not in claim["spec"] for claim in claims)
    config = config_map(docs, "marvelsite-config")
    assert config["DJANGO_SECURE_SSL_REDIRECT"] == "false"  # plain HTTP via port-forward
    assert "localhost" in config["DJANGO_ALLOWED_HOSTS"].split(",")


def test_prod_scaling_and_disruption_budgets():
    docs = render_overlay("prod")
    deployment = one(docs, "Deployment", "marvel-frontend")
    # The autoscaler owns the replicas: a deploy never resets a scaled-out frontend.
    assert "replicas" not in deployment["spec"]
    labels = deployment["spec"]["selector"]["matchLabels"]
    pdb = one(docs, "PodDisruptionBudget", "marvel-frontend")
    assert pdb["spec"]["selector"]["matchLabels"] == labels
    assert pdb["spec"]["maxUnavailable"] == 1
    # MCK creates no PodDisruptionBudget: one member at a time keeps the majority.
    cr = one(docs, CRD_KIND, "mongodb")["metadata"]["name"]
    members = one(docs, "PodDisruptionBudget", "mongodb")
    assert members["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": {"app": f"{cr}-svc"}},
    }
    hpa = one(docs, "HorizontalPodAutoscaler", "marvel-frontend")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "marvel-frontend",
    }
    assert hpa["spec"]["minReplicas"] >= 3
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    assert "DJANGO_DEBUG" not in config_map(docs, "marvelsite-config")


def test_prod_throttles_logins_per_client_behind_its_ingress():
    config = config_map(render_overlay("prod"), "marvelsite-config")
    assert config["DJANGO_SECURE_PROXY_SSL_HEADER"] == "true"  # behind a TLS-terminating ingress
    assert config["MARVELSITE_TRUSTED_PROXIES"] == "1"  # its X-Forwarded-For entry is the client


def test_prod_spreads_members_and_frontend_over_nodes():
    docs = render_overlay("prod")
    frontend = one(docs, "Deployment", "marvel-frontend")
    constraints = frontend["spec"]["template"]["spec"]["topologySpreadConstraints"]
    selector = frontend["spec"]["selector"]
    by_key = {c["topologyKey"]: c for c in constraints}
    assert set(by_key) == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    for constraint in constraints:
        assert constraint["labelSelector"] == selector
        assert constraint["maxSkew"] == 1
    resource = one(docs, CRD_KIND, "mongodb")
    template = resource["spec"]["statefulSet"]["spec"]["template"]["spec"]
    [members] = template["topologySpreadConstraints"]
    assert members["topologyKey"] == "kubernetes.io/hostname"
    assert members["whenUnsatisfiable"] == "DoNotSchedule"  # never two members on one node
    assert members["labelSelector"] == {"matchLabels": {"app": "mongodb-svc"}}
    # Still valid against the CRD (statefulSet.spec is preserved, the rest is strict).
    jsonschema.validate(resource, crd_schema(require_shared(CRD_SCHEMA), "v1"))


def test_prod_network_policy_guards_mongodb():
    docs = render_overlay("prod")
    policy = one(docs, "NetworkPolicy", "mongodb-ingress")
    cr = one(docs, CRD_KIND, "mongodb")["metadata"]["name"]
    mongo_pods = {"app": f"{cr}-svc"}  # the label the operator puts on the replica set's pods
    assert policy["spec"]["podSelector"] == {"matchLabels": mongo_pods}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    rules = {rule["ports"][0]["port"]: rule for rule in policy["spec"]["ingress"]}
    assert set(rules) == {27017, 9216}
    mongod = rules[27017]
    assert mongod["ports"] == [{"protocol": "TCP", "port": 27017}]
    peers = mongod["from"]
    app_peer = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "marvelsite"}}}
    assert app_peer in peers
    assert {"podSelector": {"matchLabels": mongo_pods}} in peers  # replication
    [operator] = [peer for peer in peers if "namespaceSelector" in peer]
    assert operator == {
        "namespaceSelector": {
            "matchLabels": {"kubernetes.io/metadata.name": OPERATOR_NAMESPACE},
        },
        "podSelector": {"matchLabels": OPERATOR_POD_LABELS},
    }
    assert len(peers) == 3
    # MongoDB's metrics port: Prometheus alone (the metrics component turns it on).
    assert rules[9216]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    # Every pod that talks to MongoDB (frontend, Jobs, backups) carries the label let in.
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job", "CronJob"):
            assert pod_template(doc)["metadata"]["labels"]["app.kubernetes.io/name"] == "marvelsite"


def test_readme_installs_mck_where_the_policy_expects_it():
    readme = (ROOT / "docs" / "kubernetes.md").read_text()
    assert "mongodb/mongodb-kubernetes" in readme
    assert "mongodb/community-operator" not in readme.split("## Migrating")[0]
    assert f"--namespace {OPERATOR_NAMESPACE}" in readme
    assert "operator.createResourcesServiceAccountsAndRoles=false" in readme
    assert "community-operator-migration.md" in readme


def claims_storage_classes(docs):
    claims = one(docs, CRD_KIND, "mongodb")["spec"]["statefulSet"]["spec"]["volumeClaimTemplates"]
    return [c["spec"].get("storageClassName") for c in claims] + [
        c["spec"].get("storageClassName") for c in find(docs, "PersistentVolumeClaim")
    ]


def test_prod_uses_encrypted_replicated_longhorn_storage():
    docs = render_overlay("prod")
    # The class and the backups' claim are cluster state (k8s/cluster), never deployed.
    cluster = render_cluster("prod")
    [storage] = find(cluster, "StorageClass")
    assert storage["metadata"]["name"] == "longhorn-encrypted"
    assert storage["provisioner"] == "driver.longhorn.io"
    assert storage["allowVolumeExpansion"] is True
    assert storage["reclaimPolicy"] == "Retain"
    parameters = storage["parameters"]
    assert parameters["encrypted"] == "true"
    assert int(parameters["numberOfReplicas"]) >= 2
    assert parameters["fsType"] == "xfs"
    # Every CSI step that touches an encrypted volume reads the same crypto Secret.
    for step in ("provisioner", "node-publish", "node-stage", "node-expand"):
        assert parameters[f"csi.storage.k8s.io/{step}-secret-name"] == "longhorn-crypto", step
        assert parameters[f"csi.storage.k8s.io/{step}-secret-namespace"] == "longhorn-system"
    # The replica set's two claims and the backups' claim.
    assert claims_storage_classes(docs + cluster) == ["longhorn-encrypted"] * 3
    readme = (ROOT / "docs" / "kubernetes.md").read_text()
    for needed in ("CRYPTO_KEY_VALUE", "CRYPTO_KEY_PROVIDER=secret", "dm_crypt", "cryptsetup"):
        assert needed in readme, needed


def test_switching_prod_to_ondat_is_one_line_in_each_kustomization():
    docs = render_variant("prod", SWITCH_TO_ONDAT)
    storage = yaml.safe_load((K8S / "cluster" / "prod" / "storageclass-ondat.yaml").read_text())
    assert (
        "storageclass-ondat.yaml instead" in (K8S / "cluster/prod/kustomization.yaml").read_text()
    )
    assert storage["metadata"]["name"] == "ondat-replicated"
    assert storage["provisioner"] == "csi.storageos.com"
    parameters = storage["parameters"]
    assert parameters["storageos.com/encryption"] == "true"
    assert int(parameters["storageos.com/replicas"]) >= 2
    assert parameters["csi.storage.k8s.io/fstype"] == "xfs"
    assert claims_storage_classes(docs) == ["ondat-replicated"] * 2


def test_replica_set_pods_have_their_service_account(overlay):
    # MCK runs a MongoDBCommunity's pods as ServiceAccount mongodb-kubernetes-appdb.
    name, docs = overlay
    one(docs, "ServiceAccount", APPDB_SERVICE_ACCOUNT)
    binding = one(docs, "RoleBinding", APPDB_SERVICE_ACCOUNT)
    account = {"kind": "ServiceAccount", "name": APPDB_SERVICE_ACCOUNT, "namespace": name}
    assert binding["subjects"] == [account]
    role = one(docs, "Role", binding["roleRef"]["name"])
    assert {"secrets", "pods"} == {r for rule in role["rules"] for r in rule["resources"]}
    # Nothing still names the deprecated Community Operator's account.
    assert not [doc for doc in docs if doc["metadata"]["name"] == "mongodb-database"]


# --- backups -----------------------------------------------------------------------------


def backup_cronjob(docs):
    return one(docs, "CronJob", "mongodb-backup")


def test_backups_run_as_a_least_privilege_user_the_cr_defines():
    docs = render_overlay("prod")
    user = users_by_name(docs)["marvel-backup"]
    assert user["db"] == "admin"
    assert [(r["name"], r["db"]) for r in user["roles"]] == [("backup", "admin")]
    pod = pod_template(backup_cronjob(docs))["spec"]
    [dump] = pod["containers"]
    env = {e["name"]: e for e in dump["env"]}
    assert env["BACKUP_USERNAME"]["value"] == user["name"]
    files = secret_files(pod, dump)
    password_file = env["BACKUP_PASSWORD_FILE"]["value"]
    assert files[password_file] == (user["passwordSecretRef"]["name"], "password")


def test_backup_cronjob_dumps_the_app_database_to_its_volume():
    docs = render_overlay("prod")
    cronjob = backup_cronjob(docs)
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = pod_template(cronjob)["spec"]
    [dump] = pod["containers"]
    # The official image, on the server's own version, pinned by digest.
    version = one(docs, CRD_KIND, "mongodb")["spec"]["version"]
    assert re.fullmatch(rf"mongo:{re.escape(version)}@sha256:[0-9a-f]{{64}}", dump["image"])
    script = dump["args"][0]
    assert "mongodump" in script
    for flag in ("--archive=", "--gzip", '--db="$MONGODB_NAME"', "--config="):
        assert flag in script, flag
    assert "MONGO_PASSWORD" not in script.split("mongodump", 1)[1]  # never on its command line
    assert int({e["name"]: e for e in dump["env"]}["BACKUP_KEEP"]["value"]) >= 1
    mounts = {m["mountPath"]: m["name"] for m in dump["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    claim = volumes[mounts["/backups"]]["persistentVolumeClaim"]["claimName"]
    cluster = render_cluster("prod")
    assert one(cluster, "PersistentVolumeClaim", claim)["spec"]["accessModes"] == ["ReadWriteOnce"]
    # The password file: memory only.
    assert volumes[mounts["/tmp"]]["emptyDir"]["medium"] == "Memory"  # noqa: S108


def test_backup_pod_meets_the_restricted_profile():
    pod = pod_template(backup_cronjob(render_overlay("prod")))["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": MONGO_IMAGE_UID,
        "runAsGroup": MONGO_IMAGE_UID,
        "fsGroup": MONGO_IMAGE_UID,  # the volume is the dump user's to write
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    [dump] = pod["containers"]
    assert dump["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


FAKE_MONGODUMP = """#!/bin/sh
# Records its arguments and the config file, and writes the archive it was asked for.
printf '%s\\n' "$@" > "$RECORD/argv"
for arg in "$@"; do
  case "$arg" in
    --config=*) cp "${arg#--config=}" "$RECORD/config" ;;
    --archive=*) echo dump > "${arg#--archive=}" ;;
  esac
done
"""


def test_backup_script_keeps_the_newest_archives_and_hides_the_password(tmp_path):
    docs = render_overlay("prod")
    [dump] = pod_template(backup_cronjob(docs))["spec"]["containers"]
    backups, scratch, record, bin_dir = (tmp_path / d for d in ("backups", "tmp", "rec", "bin"))
    for folder in (backups, scratch, record, bin_dir):
        folder.mkdir()
    (bin_dir / "mongodump").write_text(FAKE_MONGODUMP)
    (bin_dir / "mongodump").chmod(0o755)
    # Nine older archives (oldest first) and a dump left half-written by a failed night.
    for day in range(1, 10):
        old = backups / f"marvel-2026010{day}T023000Z.archive.gz"
        old.write_text("old")
        os.utime(old, (1_700_000_000 + day * 86_400,) * 2)
    (backups / ".partial-20260110T023000Z").write_text("half")
    # The container's paths, moved into tmp_path.
    in_container = "/tmp/mongodump.yaml"  # noqa: S108 - the pod's memory emptyDir
    script = dump["args"][0].replace(in_container, str(scratch / "mongodump.yaml"))
    script = script.replace("/backups", str(backups))
    password = 'pa"ss\\word with spaces'
    password_file = tmp_path / "password"
    password_file.write_text(password)  # as the mounted Secret holds it: no newline
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "RECORD": str(record),
        **config_map(docs, "mongo-config"),
        **{e["name"]: e["value"] for e in dump["env"] if "value" in e},
        "BACKUP_PASSWORD_FILE": str(password_file),
    }
    result = subprocess.run(
        ["/bin/sh", "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    argv = (record / "argv").read_text().splitlines()
    assert (
        "--host=mongodb/mongodb-0.mongodb-svc:27017,mongodb-1.mongodb-svc:27017,"
        "mongodb-2.mongodb-svc:27017" in argv
    )
    assert "--username=marvel-backup" in argv
    assert "--db=marvel" in argv
    # Over TLS, verified against the CA the tls component mounts.
    assert argv[argv.index("--tls") + 1] == "--tlsCAFile=/run/secrets/mongodb-ca/ca.crt"
    assert not [arg for arg in argv if 'pa"ss' in arg]
    assert yaml.safe_load((record / "config").read_text()) == {"password": password}
    assert (scratch / "mongodump.yaml").stat().st_mode & 0o077 == 0  # umask 077
    kept = sorted(p.name for p in backups.iterdir())
    assert len(kept) == int(env["BACKUP_KEEP"]) == 7
    assert "marvel-20260101T023000Z.archive.gz" not in kept  # the oldest went first
    assert "marvel-20260102T023000Z.archive.gz" not in kept
    assert "marvel-20260109T023000Z.archive.gz" in kept
    assert not [name for name in kept if name.startswith(".partial")]


# --- metrics (the optional component) ----------------------------------------------------


def test_without_the_metrics_component_there_is_no_metrics_port():
    docs = render_overlay("prod")
    assert "MARVELSITE_METRICS_PORT" not in config_map(docs, "marvelsite-config")
    [app] = one(docs, "Deployment", "marvel-frontend")["spec"]["template"]["spec"]["containers"]
    assert [port["name"] for port in app["ports"]] == ["http"]
    assert "prometheus" not in one(docs, CRD_KIND, "mongodb")["spec"]
    assert find(docs, "ServiceMonitor") == []


def service_monitor_targets(docs, monitor):
    """The Services of `docs` a ServiceMonitor selects (its own namespace, matchLabels)."""
    wanted = monitor["spec"]["selector"]["matchLabels"].items()
    return [
        service
        for service in find(docs, "Service")
        if wanted <= service["metadata"].get("labels", {}).items()
        and service["metadata"]["namespace"] == monitor["metadata"]["namespace"]
    ]


def test_service_monitors_have_their_required_fields():
    # No schema for the Prometheus Operator's CRD here: its required fields, by hand.
    docs = render_variant("prod", with_component("metrics"))
    monitors = find(docs, "ServiceMonitor")
    assert {m["metadata"]["name"] for m in monitors} == {"marvel-frontend", "mongodb"}
    for monitor in monitors:
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert set(monitor["spec"]) <= {"selector", "endpoints", "namespaceSelector"}
        assert monitor["spec"]["selector"]["matchLabels"]
        assert monitor["spec"]["endpoints"]
        for endpoint in monitor["spec"]["endpoints"]:
            assert isinstance(endpoint["port"], str)  # a Service port *name*
            assert endpoint.get("scheme", "http") == "http"


def test_app_metrics_are_scraped_from_their_own_port_never_the_public_service():
    docs = render_variant("prod", with_component("metrics"))
    port = int(config_map(docs, "marvelsite-config")["MARVELSITE_METRICS_PORT"])
    deployment = one(docs, "Deployment", "marvel-frontend")
    [app] = deployment["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in app["ports"]}
    assert ports == {"http": 8000, "metrics": port}
    public = one(docs, "Service", "marvel-frontend")
    assert [p["targetPort"] for p in public["spec"]["ports"]] == ["http"]
    monitor = one(docs, "ServiceMonitor", "marvel-frontend")
    [service] = service_monitor_targets(docs, monitor)
    assert service["metadata"]["name"] != "marvel-frontend"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    service_ports = {p["name"]: p for p in service["spec"]["ports"]}
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert service_ports[endpoint["port"]]["targetPort"] == "metrics"
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["metrics"]


def test_only_prometheus_reaches_the_app_metrics_port():
    docs = render_variant("prod", with_component("metrics"))
    policy = one(docs, "NetworkPolicy", "marvel-frontend-ingress")
    selector = one(docs, "Deployment", "marvel-frontend")["spec"]["selector"]
    assert policy["spec"]["podSelector"] == selector
    rules = {rule["ports"][0]["port"]: rule for rule in policy["spec"]["ingress"]}
    assert set(rules) == {8000, 9100}
    # The site: from the ingress controller alone (k3s's Traefik).
    assert rules[8000]["from"] == [INGRESS_CONTROLLER]
    assert rules[9100]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]


def test_mongodb_metrics_need_basic_auth_from_one_secret():
    docs = render_variant("prod", with_component("metrics"))
    resource = one(docs, CRD_KIND, "mongodb")
    prometheus = resource["spec"]["prometheus"]
    secret = prometheus["passwordSecretRef"]["name"]
    assert prometheus["username"]
    monitor = one(docs, "ServiceMonitor", "mongodb")
    cr = resource["metadata"]["name"]
    assert monitor["spec"]["selector"] == {"matchLabels": {"app": f"{cr}-svc"}}  # MCK's Service
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "prometheus"  # the port name MCK gives spec.prometheus
    assert endpoint["basicAuth"] == {
        "username": {"name": secret, "key": "username"},
        "password": {"name": secret, "key": "password"},
    }
    assert find(docs, "Secret") == []  # created by hand (docs/kubernetes.md), not in git
