import dataclasses
from pathlib import Path
from typing import Any

import yaml

from controller.rule_files import load_rules
from controller.settings import ControllerSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def documents(name: str) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def container() -> dict[str, Any]:
    deployment = documents("controller.yaml")["Deployment/iops-controller"]
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    result: dict[str, Any] = only
    return result


def test_the_shipped_deployment_only_reports_until_an_operator_turns_dry_run_off() -> None:
    env = {e["name"]: e.get("value") for e in container()["env"]}
    assert env["DRY_RUN"] == "true"


def test_every_variable_the_deployment_sets_is_a_controller_setting() -> None:
    known = {f.name.upper() for f in dataclasses.fields(ControllerSettings)}
    assert {e["name"] for e in container()["env"]} <= known


def test_probes_point_at_the_health_server_and_the_rules_are_mounted_where_read() -> None:
    spec = container()
    assert spec["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert spec["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {e["name"]: e.get("value") for e in spec["env"]}
    assert env["RULES_PATH"] in {m["mountPath"] for m in spec["volumeMounts"]}
    assert spec["securityContext"]["readOnlyRootFilesystem"] is True


def test_rbac_grants_only_what_the_controller_calls() -> None:
    docs = documents("controller-rbac.yaml")
    cluster = {
        (tuple(r["apiGroups"]), tuple(r["resources"])): set(r["verbs"])
        for r in docs["ClusterRole/iops-controller"]["rules"]
    }
    assert cluster == {
        (("",), ("pods",)): {"get", "list", "watch", "patch"},
        (("",), ("events",)): {"create", "patch"},
    }
    [lease] = docs["Role/iops-controller-leader-election"]["rules"]
    assert set(lease["verbs"]) == {"get", "create", "update"}
    assert docs["Role/iops-controller-leader-election"]["metadata"]["namespace"] == "iops-limit"


def test_the_shipped_rules_pass_validation(tmp_path: Path) -> None:
    config_map = documents("controller.yaml")["ConfigMap/iops-controller-rules"]
    for name, text in config_map["data"].items():
        (tmp_path / name).write_text(text)
    rules = load_rules(tmp_path)
    assert rules.max_for() == 600.0  # the release window of the sustained-writer group
