import dataclasses
from pathlib import Path
from typing import Any

import yaml

from controller.kubeapi import OPERATIONS
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


def granted(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (verb, group, resource)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_rbac_grants_exactly_the_calls_the_api_wrapper_makes() -> None:
    docs = documents("controller-rbac.yaml")
    cluster = granted(docs["ClusterRole/iops-controller"]["rules"])
    lease_role = docs["Role/iops-controller-leader-election"]
    namespaced = granted(lease_role["rules"])
    assert cluster | namespaced == set(OPERATIONS.values())
    # The Lease is the only thing written in one namespace; nothing about it is cluster-wide.
    assert {resource for _, _, resource in namespaced} == {"leases"}
    assert not {resource for _, _, resource in cluster} & {"leases"}
    assert lease_role["metadata"]["namespace"] == "iops-limit"


def test_the_shipped_rules_pass_validation(tmp_path: Path) -> None:
    config_map = documents("controller.yaml")["ConfigMap/iops-controller-rules"]
    for name, text in config_map["data"].items():
        (tmp_path / name).write_text(text)
    rules = load_rules(tmp_path)
    assert rules.max_for() == 600.0  # the release window of the sustained-writer group
