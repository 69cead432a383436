"""deploy/k8s validates offline: against the Kubernetes API schemas (kubernetes-validate,
strict: unknown fields fail), the KEDA ScaledObject against a schema of its own
(tests/data/k8s), and against qstream itself: every command and flag is the real CLI's,
every ``QSTREAM_*`` variable a real setting, every exec topic a real backend's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import typer.main
import yaml
from pydantic import BaseModel

from qstream.backends.fleet import fleet_specs
from qstream.cli import app as cli_app
from qstream.config import SHORTCUTS, KafkaSecurity, Limits, WorkerConfig
from qstream.config_env import ENV_PREFIX, NESTED
from qstream.secrets import SECRET_NAMES, SECRETS_FILE_VAR
from qstream.stream.topics import EXEC_PREFIX, exec_topic, pipeline_topics

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
KEDA_SCHEMA = REPO / "tests" / "data" / "k8s" / "keda-scaledobject-v1alpha1.schema.json"
KUBERNETES_VERSION = "1.30.0"
"""Oldest Kubernetes minor still commonly deployed (2026); strict schemas of that version."""
NOT_KUBERNETES_API = {"kustomize.config.k8s.io/v1beta1", "keda.sh/v1alpha1"}


def manifests(directory: Path = K8S) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(file name, object)`` for every YAML document under ``directory``."""
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                yield path.name, doc


def objects(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in manifests() if doc["kind"] == kind]


def _id(item: tuple[str, dict[str, Any]]) -> str:
    name, doc = item
    return f"{name}:{doc['kind']}/{doc.get('metadata', {}).get('name', '')}"


def containers() -> list[tuple[str, dict[str, Any]]]:
    """``(deployment name, container)`` of every Deployment."""
    return [(d["metadata"]["name"], c) for d in objects("Deployment")
            for c in d["spec"]["template"]["spec"]["containers"]]


def qstream_commands() -> list[tuple[str, list[str]]]:
    """Every ``qstream`` command line in the manifests: container args (the image's
    entrypoint is ``qstream``, deploy/Dockerfile) and exec probe commands."""
    found = []
    for deployment, c in containers():
        found.append((f"{deployment} args", list(c["args"])))
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            command = c.get(probe, {}).get("exec", {}).get("command")
            if command:
                assert command[0] == "qstream", f"{deployment} {probe}: {command}"
                found.append((f"{deployment} {probe}", list(command[1:])))
    return found


def settings_variables() -> set[str]:
    """Every ``QSTREAM_*`` variable qstream reads, from the settings models themselves:
    :class:`WorkerConfig` fields (nested models with ``NESTED``, :class:`Limits` flat),
    shortcuts, :class:`KafkaSecurity` fields, the secrets and the secrets file."""
    names = {ENV_PREFIX + s.upper() for s in SHORTCUTS}
    for field, info in WorkerConfig.model_fields.items():
        if field in ("kafka", "credentials"):
            continue
        if field == "limits":
            names |= {ENV_PREFIX + f.upper() for f in Limits.model_fields}
        elif isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            names |= {f"{ENV_PREFIX}{field}{NESTED}{f}".upper()
                      for f in info.annotation.model_fields}
        else:
            names.add(ENV_PREFIX + field.upper())
    names |= {f"{ENV_PREFIX}KAFKA_{f.upper()}" for f in KafkaSecurity.__dataclass_fields__
              if f != "sasl_password"}
    return names | set(SECRET_NAMES) | {SECRETS_FILE_VAR}


def variables() -> dict[str, str]:
    """Every variable the manifests set: ConfigMap data, Secret keys, container ``env``."""
    found: dict[str, str] = {}
    for cm in objects("ConfigMap"):
        found.update(cm.get("data", {}))
    for secret in objects("Secret"):
        found.update(secret.get("stringData", {}))
    for _, c in containers():
        found.update({e["name"]: e.get("value", "") for e in c.get("env", ())})
    return found


def settings_map() -> dict[str, str]:
    (cm,) = [c for c in objects("ConfigMap") if c["metadata"]["name"] == "qstream-settings"]
    return cm["data"]


def backends_of(container: dict[str, Any]) -> list[str]:
    args = container["args"]
    return args[args.index("--backends") + 1].split(",")


# --- Kubernetes and KEDA schemas ---------------------------------------------------------

def test_kustomization_lists_every_manifest() -> None:
    (kustomization,) = objects("Kustomization")
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)


@pytest.mark.parametrize("item", [m for m in manifests() if m[1]["apiVersion"]
                                  not in NOT_KUBERNETES_API], ids=_id)
def test_object_validates_against_the_kubernetes_api_schema(item: tuple[str, dict]) -> None:
    kubernetes_validate.validate(item[1], KUBERNETES_VERSION, strict=True)


def test_kubernetes_validation_catches_an_unknown_field() -> None:
    """The strict schemas refuse a misspelt field (so the test above can fail)."""
    deployment = json.loads(json.dumps(objects("Deployment")[0]))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def keda_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(KEDA_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("scaled", objects("ScaledObject"), ids=lambda s: s["metadata"]["name"])
def test_scaledobject_validates_against_the_keda_schema(scaled: dict[str, Any]) -> None:
    errors = [e.message for e in keda_validator().iter_errors(scaled)]
    assert not errors


def test_keda_schema_catches_a_bad_trigger() -> None:
    scaled = json.loads(json.dumps(objects("ScaledObject")[0]))
    scaled["spec"]["triggers"][0]["metadata"]["lagTreshold"] = "5"  # misspelt
    del scaled["spec"]["triggers"][0]["metadata"]["consumerGroup"]
    messages = " ".join(e.message for e in keda_validator().iter_errors(scaled))
    assert "lagTreshold" in messages and "consumerGroup" in messages


def test_there_are_executor_deployments_and_each_has_a_scaledobject() -> None:
    executors = {d for d, c in containers() if c["args"][0] == "executor"}
    assert len(executors) >= 2  # one Deployment per backend group
    assert {s["spec"]["scaleTargetRef"]["name"] for s in objects("ScaledObject")} == executors


@pytest.mark.parametrize("scaled", objects("ScaledObject"), ids=lambda s: s["metadata"]["name"])
def test_scaledobject_watches_its_deployments_exec_topics(scaled: dict[str, Any]) -> None:
    """Consumer group, topics and bootstrap servers are the ones qstream really uses, and
    maxReplicaCount does not exceed the exec topics' partitions."""
    settings = settings_map()
    target = scaled["spec"]["scaleTargetRef"]["name"]
    (container,) = [c for d, c in containers() if d == target]
    backends = backends_of(container)
    triggers = [t["metadata"] for t in scaled["spec"]["triggers"]]
    assert {t["topic"] for t in triggers} == {exec_topic(b) for b in backends}
    # create_executor_app: consumer group "<app_id>-executors"
    assert {t["consumerGroup"] for t in triggers} == {f"{settings['QSTREAM_APP_ID']}-executors"}
    bootstrap = WorkerConfig(broker=settings["QSTREAM_BROKER"]).bootstrap
    assert {t["bootstrapServers"] for t in triggers} == {bootstrap}
    partitions = {t.name: t.partitions for t in pipeline_topics(backends)
                  if t.name.startswith(EXEC_PREFIX)}
    assert scaled["spec"]["maxReplicaCount"] <= min(partitions.values())


# --- the manifests against qstream's CLI and settings ------------------------------------

@pytest.mark.parametrize("where,args", qstream_commands(), ids=lambda v: v if isinstance(v, str)
                         else None)
def test_every_command_and_flag_exists_in_the_cli(where: str, args: list[str]) -> None:
    """The command exists, every ``--flag`` is one of its options, and click parses the
    whole line (types, ranges, required options) without running it."""
    root = typer.main.get_command(cli_app)
    command = root.commands.get(args[0])  # type: ignore[attr-defined]
    assert command is not None, f"{where}: `qstream {args[0]}` does not exist"
    known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    flags = [a.split("=", 1)[0] for a in args[1:] if a.startswith("--")]
    missing = [f for f in flags if f not in known]
    assert not missing, f"{where}: `qstream {args[0]}` has no option {', '.join(missing)}"
    command.make_context(f"qstream {args[0]}", args[1:])


def dockerfile_variables() -> set[str]:
    """``QSTREAM_*`` names set by ``ENV`` in deploy/Dockerfile (the image the manifests run)."""
    text = (REPO / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    return {m for line in text.splitlines() if line.startswith("ENV ")
            for m in re.findall(r"\b(QSTREAM_[A-Z0-9_]+)=", line)}


def test_every_qstream_variable_is_a_setting() -> None:
    known = settings_variables()
    assert "QSTREAM_BROKER" in dockerfile_variables()
    named = {n for n in variables() if n.startswith(ENV_PREFIX)} | dockerfile_variables()
    assert named, "the manifests set no QSTREAM_* variable"
    assert not named - known, f"not qstream settings: {sorted(named - known)}"


def test_the_settings_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ConfigMap's values load as the worker loads them, and name real backends."""
    import os

    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    for name, value in settings_map().items():
        monkeypatch.setenv(name, value)
    config = WorkerConfig.from_env()
    fleet = {s.name for s in fleet_specs(config.fleet)}
    for deployment, c in containers():
        if c["args"][0] == "executor":
            assert set(backends_of(c)) <= fleet, deployment


def test_the_variable_check_catches_a_misspelt_variable() -> None:
    known = settings_variables()
    assert "QSTREAM_TIME_SCALE" in known and "QSTREAM_SCHEDULER__MAX_SPLITS" in known
    assert "QSTREAM_MAX_SHOTS" in known and "QSTREAM_KAFKA_SASL_USERNAME" in known
    assert "QSTREAM_TIMESCALE" not in known
    assert "QSTREAM_SCHEDULER_MAX_SPLITS" not in known  # one "_" is not the nesting


def test_probes_use_the_heartbeat_file_the_settings_name() -> None:
    """Worker and executor probes run `qstream health`, which reads QSTREAM_HEALTH_FILE;
    that file must be on a writable volume of the pod."""
    path = settings_map()["QSTREAM_HEALTH_FILE"]
    for deployment in objects("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        for c in pod["containers"]:
            if c["args"][0] not in ("worker", "executor"):
                continue
            assert c["livenessProbe"]["exec"]["command"][:2] == ["qstream", "health"]
            mounts = [m["mountPath"] for m in c.get("volumeMounts", ())]
            assert any(re.match(re.escape(m.rstrip("/")) + "/", path) for m in mounts), \
                f"{deployment['metadata']['name']}: {path} is not on a mounted volume"
