"""deploy/kubernetes: the kustomize base parsed as `kubectl apply -k` would send it, and
checked against the application: its routes, the settings it really reads, the routing
config schema, and the image the Dockerfile builds."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from llmtriage.errors import ConfigError
from llmtriage.routing import load_routing_config
from llmtriage.server.settings import ServeSettings
from tests.deploy.support import (
    BASE,
    ROOT,
    SECRET_EXAMPLE,
    copy_parts,
    exec_form,
    kustomize,
    one,
    parse_dockerfile,
    selects,
    serve_settings,
    settings_env_names,
)
from tests.server.helpers import serve

Object = dict[str, Any]


@pytest.fixture(scope="module")
def objects() -> list[Object]:
    return kustomize(BASE)


@pytest.fixture(scope="module")
def deployment(objects: list[Object]) -> Object:
    return one(objects, "Deployment")


@pytest.fixture(scope="module")
def container(deployment: Object) -> Object:
    only: Object
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


@pytest.fixture(scope="module")
def configmaps(objects: list[Object]) -> dict[str, Mapping[str, str]]:
    return {o["metadata"]["name"]: o["data"] for o in objects if o["kind"] == "ConfigMap"}


@pytest.fixture(scope="module")
def example_secrets() -> dict[str, Mapping[str, str]]:
    docs = [d for d in yaml.safe_load_all(SECRET_EXAMPLE.read_text()) if d]
    assert all(d["kind"] == "Secret" for d in docs)
    return {d["metadata"]["name"]: d["stringData"] for d in docs}


def _pod_labels(deployment: Object) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"]["labels"]
    return labels


def _port(container: Object, ref: int | str) -> int:
    """A probe's or Service's port (a name or a number) as the container's port number."""
    for port in container["ports"]:
        if ref in (port.get("name"), port["containerPort"]):
            number: int = port["containerPort"]
            return number
    raise AssertionError(f"port {ref!r} is not a port of the container")


# --- what the container runs with ----------------------------------------------------------


@dataclass
class Pod:
    """The container's view: its environment (image ENV, then the Deployment's env), its
    argv, and the ConfigMap files it mounts, materialised under a local folder."""

    env: dict[str, str]
    argv: list[str]
    mounts: dict[str, Path]  # mountPath -> local folder holding the ConfigMap's files

    def local(self, path: str | Path) -> Path:
        target = PurePosixPath(str(path))
        for mount, folder in self.mounts.items():
            if target.is_relative_to(mount):
                local = folder / target.relative_to(mount)
                assert local.is_file(), f"{path}: no such key in the ConfigMap mounted at {mount}"
                return local
        raise AssertionError(f"{path} is not in any mounted ConfigMap")

    def settings(self) -> ServeSettings:
        env = {k: v for k, v in self.env.items() if k.upper().startswith("LLMTRIAGE_")}
        for name, value in env.items():
            if any(PurePosixPath(value).is_relative_to(m) for m in self.mounts):
                env[name] = str(self.local(value))  # the file the pod would read
        return serve_settings(self.argv, env)


def _pod(
    deployment: Object,
    configmaps: Mapping[str, Mapping[str, str]],
    secrets: Mapping[str, Mapping[str, str]],
    tmp: Path,
) -> Pod:
    (runtime,) = parse_dockerfile()[-1:]
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    env = dict(runtime.env())
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]
        (kind,) = ref
        source = ref[kind]
        store = {"secretKeyRef": secrets, "configMapKeyRef": configmaps}[kind]
        data = store.get(source["name"])
        if data is None or source["key"] not in data:
            assert source.get("optional"), f"{item['name']}: {source} is missing and required"
            continue
        env[item["name"]] = data[source["key"]]
    # Kubernetes: `command` replaces the ENTRYPOINT and drops the CMD; `args` replaces CMD.
    entrypoint = exec_form(runtime.all("ENTRYPOINT")[-1])
    cmd = exec_form(runtime.all("CMD")[-1])
    argv = container.get("command", entrypoint) + container.get(
        "args", [] if "command" in container else cmd
    )
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts: dict[str, Path] = {}
    for n, mount in enumerate(container.get("volumeMounts", [])):
        volume = volumes[mount["name"]]
        if "configMap" not in volume:
            continue
        data = configmaps[volume["configMap"]["name"]]
        items = volume["configMap"].get("items") or [{"key": k, "path": k} for k in data]
        folder = tmp / f"mount{n}"
        for item in items:
            (folder / item["path"]).parent.mkdir(parents=True, exist_ok=True)
            (folder / item["path"]).write_text(data[item["key"]])
        mounts[mount["mountPath"]] = folder
    return Pod(env=env, argv=argv, mounts=mounts)


@pytest.fixture
def pod(deployment: Object, configmaps: dict[str, Mapping[str, str]], tmp_path: Path) -> Pod:
    """As `kubectl apply -k base` leaves it: none of the (optional) Secrets created."""
    return _pod(deployment, configmaps, {}, tmp_path)


# --- the kustomization ----------------------------------------------------------------------


def test_kustomization_lists_every_manifest_and_no_secret(objects: list[Object]) -> None:
    listed = yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"]
    on_disk = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(listed) == on_disk, "a manifest in base/ is not applied (or one is missing)"
    assert Path(SECRET_EXAMPLE).name not in listed
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == sorted(
        ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"]
    )
    versions = {o["kind"]: o["apiVersion"] for o in objects}
    assert versions["Deployment"] == "apps/v1"
    assert versions["HorizontalPodAutoscaler"] == "autoscaling/v2"
    assert versions["PodDisruptionBudget"] == "policy/v1"
    for obj in objects:
        assert obj["metadata"]["name"]


# --- settings, env and config ---------------------------------------------------------------


def test_every_env_name_is_read_by_the_application(
    container: Object, configmaps: dict[str, Mapping[str, str]], pod: Pod
) -> None:
    names = [item["name"] for item in container["env"]]
    assert len(names) == len(set(names)), "an env name is set twice"
    routing = load_routing_config(pod.local(pod.settings().routing_config or "-"))
    key_envs = {d.api_key_env for t in routing.tiers for d in t.deployments if d.api_key_env}
    unknown = set(names) - settings_env_names() - key_envs
    assert not unknown, f"set in the Deployment, read by nothing: {sorted(unknown)}"
    assert key_envs <= set(names), f"provider keys never set: {sorted(key_envs - set(names))}"
    for item in container["env"]:
        assert isinstance(item.get("value", ""), str), f"{item['name']}: env values are strings"
        if item["name"] in key_envs or item["name"] in {
            "LLMTRIAGE_REDIS_URL",
            "LLMTRIAGE_REDIS_KEY_SECRET",
        }:
            assert "secretKeyRef" in item.get("valueFrom", {}), f"{item['name']}: from a Secret"


def test_secret_refs_are_in_the_example_and_optional(
    container: Object, example_secrets: dict[str, Mapping[str, str]]
) -> None:
    refs = [i["valueFrom"]["secretKeyRef"] for i in container["env"] if "valueFrom" in i]
    assert refs
    for ref in refs:
        assert ref["key"] in example_secrets.get(ref["name"], {}), ref
        assert ref.get("optional") is True, f"{ref}: pods would not start without the Secret"


def test_container_listens_on_its_port_with_the_image_artifact(container: Object, pod: Pod) -> None:
    settings = pod.settings()
    (port,) = container["ports"]
    assert settings.port == port["containerPort"]
    assert settings.host == "0.0.0.0"  # probes and the Service reach the pod's IP
    # No volume at the model path: the image's artifact, where the Dockerfile copies it.
    assert not any(
        PurePosixPath(str(settings.model)).is_relative_to(m["mountPath"])
        for m in container.get("volumeMounts", [])
    )
    runtime = parse_dockerfile()[-1]
    copied = [Path(d) for _, _, d in map(copy_parts, runtime.all("COPY")) if "models" in d]
    assert any(settings.model.is_relative_to(d) for d in copied), (settings.model, copied)
    assert settings.workers == 1  # replicas scale it; the HPA measures one process per pod
    assert settings.store_config().backend == "memory"  # no Secret: embedded store


def test_with_the_example_secrets_redis_is_configured(
    deployment: Object,
    configmaps: dict[str, Mapping[str, str]],
    example_secrets: dict[str, Mapping[str, str]],
    tmp_path: Path,
) -> None:
    pod = _pod(deployment, configmaps, example_secrets, tmp_path)
    settings = pod.settings()
    assert settings.store_config().backend == "redis"
    assert settings.redis_key_secret is not None
    assert pod.env["OPENAI_API_KEY"] == example_secrets["llmtriage-provider-keys"]["OPENAI_API_KEY"]


def test_configmap_files_pass_the_real_validation(pod: Pod, tmp_path: Path) -> None:
    settings = pod.settings()  # serve.yaml: ServeSettings, unknown keys forbidden
    assert settings.routing_config is not None, "the ConfigMap's routing.yaml is not used"
    routing_file = pod.local(settings.routing_config)
    config = load_routing_config(routing_file)  # file:line errors on any problem
    assert config.classifier.enabled and config.classifier.artifact is None  # the image's
    # The same validation refuses a key the schema does not know: these checks can fail.
    bad = tmp_path / "bad-routing.yaml"
    bad.write_text(routing_file.read_text() + "unknown_key: 1\n")
    with pytest.raises(ConfigError):
        load_routing_config(bad)
    serve_yaml = pod.local(pod.env["LLMTRIAGE_CONFIG"])
    bad_serve = tmp_path / "bad-serve.yaml"
    bad_serve.write_text(serve_yaml.read_text() + "prot: 8080\n")
    with pytest.raises(ConfigError):
        serve_settings(pod.argv, {"LLMTRIAGE_CONFIG": str(bad_serve)})


# --- probes, Service, HPA, PDB --------------------------------------------------------------


def _probes(container: Object) -> dict[str, Object]:
    return {
        k: container[k]
        for k in ("startupProbe", "readinessProbe", "livenessProbe")
        if k in container
    }


def test_probes_hit_real_routes_on_the_container_port(container: Object, pod: Pod) -> None:
    from llmtriage.server.app import create_app

    probes = _probes(container)
    assert {"readinessProbe", "livenessProbe"} <= set(probes)
    app = create_app(pod.settings())
    gets = {path for path, ops in app.openapi()["paths"].items() if "get" in ops}
    settings = pod.settings()
    for kind, probe in probes.items():
        assert probe["httpGet"]["path"] in gets, f"{kind}: no such route"
        assert _port(container, probe["httpGet"]["port"]) == settings.port, kind
        # /readyz probes the store within redis_timeout_s: the probe must outwait it.
        assert probe.get("timeoutSeconds", 1) > settings.redis_timeout_s, kind


async def test_readiness_probe_is_the_ready_route_and_liveness_the_live_one(
    container: Object, pod: Pod, tiny_artifact: Path, tmp_path: Path
) -> None:
    """The full service (scoring + routing proxy) as the pod configures it, over the tiny
    artifact: every probe answers 200 once ready. With an artifact that fails its load or
    self-test in a running app, the readiness probe answers 503 while the liveness and
    startup probes stay 200: the pod leaves rotation instead of being restarted in a loop.
    (A missing artifact never gets that far: `llmtriage serve` exits at start-up.)"""
    from llmtriage.server.app import create_app, create_service

    probes = _probes(container)
    settings = pod.settings()
    routing = pod.local(settings.routing_config or "-")
    # gc_freeze: `serve` sets it; in this test process it would freeze the whole heap.
    ready = settings.model_copy(
        update={"model": tiny_artifact, "routing_config": routing, "gc_freeze": False}
    )
    async with serve(create_service(ready, env={})) as client:
        for kind, probe in probes.items():
            assert (await client.get(probe["httpGet"]["path"])).status_code == 200, kind
    broken = ready.model_copy(update={"model": tmp_path / "absent"})
    async with serve(create_app(broken)) as client:
        for kind, probe in probes.items():
            status = (await client.get(probe["httpGet"]["path"])).status_code
            assert status == (503 if kind == "readinessProbe" else 200), kind


def test_service_selects_the_pods_and_targets_the_container_port(
    objects: list[Object], deployment: Object, container: Object, pod: Pod
) -> None:
    service = one(objects, "Service")
    assert selects(service["spec"]["selector"], _pod_labels(deployment))
    (port,) = service["spec"]["ports"]
    assert _port(container, port["targetPort"]) == pod.settings().port


def test_deployment_selector_matches_its_pods(deployment: Object) -> None:
    assert selects(deployment["spec"]["selector"], _pod_labels(deployment))
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"


def test_hpa_scales_the_deployment_and_the_pdb_lets_a_node_drain(
    objects: list[Object], deployment: Object, container: Object
) -> None:
    hpa = one(objects, "HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        deployment["apiVersion"],
        deployment["kind"],
        deployment["metadata"]["name"],
    )
    low, high = hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]
    assert 1 <= low <= high
    for metric in hpa["spec"]["metrics"]:
        if metric["type"] == "Resource":  # utilization is relative to the requests
            assert metric["resource"]["name"] in container["resources"]["requests"]
    pdb = one(objects, "PodDisruptionBudget")
    assert selects(pdb["spec"]["selector"], _pod_labels(deployment))
    assert isinstance(pdb["spec"]["minAvailable"], int)
    assert pdb["spec"]["minAvailable"] < low, "at the minimum replica count nothing could drain"


def test_pod_runs_as_the_images_user_without_privileges(
    deployment: Object, container: Object
) -> None:
    pod_security = deployment["spec"]["template"]["spec"]["securityContext"]
    runtime = parse_dockerfile()[-1]
    image_user = runtime.all("USER")[-1].args.split(":")[0]
    assert pod_security["runAsNonRoot"] is True
    assert str(pod_security["runAsUser"]) == image_user
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    if security.get("readOnlyRootFilesystem"):
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert "/tmp" in mounts, "a read-only root needs a writable /tmp"


def test_image_tag_is_the_project_version(container: Object) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    name, _, tag = container["image"].rpartition(":")
    assert name.rsplit("/", 1)[-1] == "llmtriage" and tag == version, container["image"]
    assert f"docker build -t llmtriage:{version} ." in (ROOT / "README.md").read_text()
