"""Offline checks of k8s/: every overlay renders, validates strictly, and keeps its promises.

Core kinds are validated with kubernetes-validate --strict; the MongoDBCommunity resource
against the operator's CRD schema (../shared/schemas) made strict. The rest are the invariants
the deployment relies on (README.md, "Kubernetes").
"""

import ast
import re

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.support.manifests import (
    CRD_SCHEMA,
    K8S,
    OVERLAYS,
    ROOT,
    containers,
    crd_schema,
    find,
    one,
    pod_specs,
    render_overlay,
    require_shared,
)

APP_IMAGE = "marvelsite"  # the Skaffold artifact (tests/test_skaffold.py checks it there)
APP_UID = 10001  # the Dockerfile's USER (tests/test_dockerfile.py checks it there)
CRD_KIND = "MongoDBCommunity"
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
    *sorted((ROOT / "characters" / "management" / "commands").glob("*.py")),
]


@pytest.fixture(params=OVERLAYS)
def overlay(request):
    return request.param, render_overlay(request.param)


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
    assert len(files) >= 4  # base, components/ondat, overlays/dev, overlays/prod
    for path in files:
        used = deprecated & set(yaml.safe_load(path.read_text()))
        assert not used, f"{path.relative_to(ROOT)} uses deprecated {sorted(used)}"


def test_core_kinds_validate_strictly(overlay):
    name, docs = overlay
    version = kubernetes_validate.latest_version()
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            # Only the operator's custom resource may be unknown here (validated below).
            assert doc["kind"] == CRD_KIND, f"{name}: no schema for {doc['kind']}"


def test_core_validation_rejects_unknown_fields():
    deployment = one(render_overlay("prod"), "Deployment", "marvel-frontend")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)


def test_mongodbcommunity_matches_the_crd_schema(overlay):
    _, docs = overlay
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


def test_every_object_is_labelled_and_namespaced(overlay):
    name, docs = overlay
    cluster_scoped = {"Namespace", "StorageClass"}
    assert one(docs, "Namespace")["metadata"]["name"] == name
    for doc in docs:
        where = f"{name}: {doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] not in cluster_scoped:
            assert doc["metadata"].get("namespace") == name, where
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "marvelsite", where


# --- the workloads -----------------------------------------------------------------------


def test_workloads_run_the_skaffold_image(overlay):
    _, docs = overlay
    specs = pod_specs(docs)
    assert {where for where, _ in specs} == {
        "Deployment/marvel-frontend",
        "Job/migrate",
        "Job/seed-marvel",
    }
    for where, spec in specs:
        for container in containers(spec):
            assert container["image"] == APP_IMAGE, f"{where}/{container['name']}"


def test_every_container_has_requests_and_limits(overlay):
    _, docs = overlay
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
    assert pod.get("runAsUser") == APP_UID, where
    assert pod.get("seccompProfile") == {"type": "RuntimeDefault"}, where


def test_every_pod_runs_restricted(overlay):
    name, docs = overlay
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
    return tuple(int(part) for part in text.split(".")[:2])


def test_replica_set_shape(overlay):
    _, docs = overlay
    spec = one(docs, CRD_KIND, "mongodb")["spec"]
    assert spec["type"] == "ReplicaSet"
    assert spec["members"] == 3
    assert version_tuple(spec["version"]) >= (6, 0)  # django-mongodb-backend's minimum
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
    _, docs = overlay
    users = users_by_name(docs)
    mongo = config_map(docs, "mongo-config")
    assert set(users) == {"admin", mongo["MONGO_USERNAME"]}
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


def referenced_secrets(spec):
    names = set()
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


def test_dev_password_refs_name_the_generated_secrets():
    docs = render_overlay("dev")
    secrets = {s["metadata"]["name"]: s for s in find(docs, "Secret")}
    for user in users_by_name(docs).values():
        ref = user["passwordSecretRef"]
        # kustomize's nameReference (k8s/base/configurations) put in the hash-suffixed name.
        assert ref["name"] in secrets, ref
        assert re.fullmatch(r".+-[a-z0-9]{10}", ref["name"]), ref
        # The operator reads key `password` unless told otherwise: the article's lesson.
        assert ref.get("key", "password") == "password"
        assert set(secrets[ref["name"]]["data"]) == {"password"}
    for where, spec in pod_specs(docs):
        for name in referenced_secrets(spec) - {"marvel-api"}:  # marvel-api is optional
            assert name in secrets, f"{where} refers to a missing Secret {name}"


def test_prod_has_no_secret_in_git():
    assert "secretGenerator" not in kustomization(K8S / "overlays" / "prod")
    docs = render_overlay("prod")
    assert find(docs, "Secret") == []
    # The names README.md tells operators to create by hand, without a hash suffix.
    refs = {u["passwordSecretRef"]["name"] for u in users_by_name(docs).values()}
    assert refs == {"admin-password", "marvel-app-password"}
    for _, spec in pod_specs(docs):
        assert referenced_secrets(spec) <= {"marvel-app-password", "django-secret", "marvel-api"}


def test_dev_secrets_are_marked_dev_only():
    text = (K8S / "overlays" / "dev" / "kustomization.yaml").read_text()
    assert "DEV ONLY" in text
    for generator in kustomization(K8S / "overlays" / "dev")["secretGenerator"]:
        for literal in generator["literals"]:
            assert "dev-only" in literal.split("=", 1)[1], literal


def test_seed_hosts_follow_the_operator_naming(overlay):
    name, docs = overlay
    resource = one(docs, CRD_KIND, "mongodb")
    mongo = config_map(docs, "mongo-config")
    seeds = [mongo[key] for key in sorted(mongo) if key.startswith("MONGO_SEED")]
    cr = resource["metadata"]["name"]
    # Pods <cr>-N behind the headless Service <cr>-svc, in the overlay's namespace.
    assert seeds == [
        f"{cr}-{i}.{cr}-svc.{name}.svc.cluster.local" for i in range(resource["spec"]["members"])
    ]
    assert mongo["MONGO_REPLICA_SET"] == cr  # the operator names the replica set after the CR
    assert mongo["OFFSET"].isdigit()


def test_config_map_keys_are_read_by_the_app(overlay):
    _, docs = overlay
    names, prefixes = env_names_read_by_the_app()
    keys = {key for cm in find(docs, "ConfigMap") for key in cm["data"]}
    keys |= {key for secret in find(docs, "Secret") for key in secret["data"]}
    assert keys
    for key in keys:
        read = key in names or any(
            key.startswith(prefix) and key[len(prefix) :].isdigit() for prefix in prefixes
        )
        assert read, f"{key} is not read by {', '.join(p.name for p in ENV_READERS)}"


def test_every_workload_gets_the_same_database_settings(overlay):
    _, docs = overlay
    for where, spec in pod_specs(docs):
        for container in containers(spec):
            sources = [
                # Without kustomize's hash suffix (generated in dev, plain names in prod).
                re.sub(r"-[a-z0-9]{10}$", "", (e.get("configMapRef") or e.get("secretRef"))["name"])
                for e in container["envFrom"]
            ]
            expected = ["marvelsite-config", "mongo-config", "marvel-app-password"]
            assert sources[:3] == expected, f"{where}/{container['name']}"


# --- per-environment ---------------------------------------------------------------------


def test_dev_overlay():
    docs = render_overlay("dev")
    assert one(docs, "Deployment", "marvel-frontend")["spec"]["replicas"] == 1
    assert find(docs, "StorageClass") == []  # the local cluster's default storage
    config = config_map(docs, "marvelsite-config")
    assert config["DJANGO_SECURE_SSL_REDIRECT"] == "false"  # plain HTTP via port-forward
    assert "localhost" in config["DJANGO_ALLOWED_HOSTS"].split(",")


def test_prod_scaling_and_disruption_budget():
    docs = render_overlay("prod")
    deployment = one(docs, "Deployment", "marvel-frontend")
    assert deployment["spec"]["replicas"] >= 3
    labels = deployment["spec"]["selector"]["matchLabels"]
    pdb = one(docs, "PodDisruptionBudget", "marvel-frontend")
    assert pdb["spec"]["selector"]["matchLabels"] == labels
    assert pdb["spec"]["maxUnavailable"] == 1
    hpa = one(docs, "HorizontalPodAutoscaler", "marvel-frontend")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "marvel-frontend",
    }
    assert hpa["spec"]["minReplicas"] >= 3
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    assert "DJANGO_DEBUG" not in config_map(docs, "marvelsite-config")


def test_prod_network_policy_guards_mongodb():
    docs = render_overlay("prod")
    [policy] = find(docs, "NetworkPolicy")
    cr = one(docs, CRD_KIND, "mongodb")["metadata"]["name"]
    mongo_pods = {"app": f"{cr}-svc"}  # the label the operator puts on the replica set's pods
    assert policy["spec"]["podSelector"] == {"matchLabels": mongo_pods}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    [rule] = policy["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 27017}]
    peers = rule["from"]
    app_peer = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "marvelsite"}}}
    assert app_peer in peers
    assert {"podSelector": {"matchLabels": mongo_pods}} in peers  # replication
    [operator] = [peer for peer in peers if "namespaceSelector" in peer]
    assert operator["podSelector"] == {"matchLabels": {"name": "mongodb-kubernetes-operator"}}
    assert len(peers) == 3
    # Every app pod (frontend and both Jobs) carries the label the policy lets in.
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            pod_labels = doc["spec"]["template"]["metadata"]["labels"]
            assert pod_labels["app.kubernetes.io/name"] == "marvelsite"


def test_prod_uses_encrypted_replicated_ondat_storage():
    docs = render_overlay("prod")
    storage = one(docs, "StorageClass", "ondat-replicated")
    assert storage["provisioner"] == "csi.storageos.com"
    assert storage["allowVolumeExpansion"] is True
    parameters = storage["parameters"]
    assert parameters["storageos.com/encryption"] == "true"
    assert int(parameters["storageos.com/replicas"]) >= 2
    assert parameters["csi.storage.k8s.io/fstype"] == "xfs"
    assert parameters["csi.storage.k8s.io/secret-name"]
    claims = one(docs, CRD_KIND, "mongodb")["spec"]["statefulSet"]["spec"]["volumeClaimTemplates"]
    assert [c["spec"]["storageClassName"] for c in claims] == ["ondat-replicated"] * 2


def test_replica_set_pods_have_their_service_account(overlay):
    # The operator runs the replica set as ServiceAccount mongodb-database, in its namespace.
    name, docs = overlay
    one(docs, "ServiceAccount", "mongodb-database")
    binding = one(docs, "RoleBinding", "mongodb-database")
    account = {"kind": "ServiceAccount", "name": "mongodb-database", "namespace": name}
    assert binding["subjects"] == [account]
    role = one(docs, "Role", binding["roleRef"]["name"])
    assert {"secrets", "pods"} == {r for rule in role["rules"] for r in rule["resources"]}
