"""Events name the controller replica that posted them, so an operator of a two-replica
Deployment can tell which pod spoke. Through the settings, the real client and the fake API."""

from pathlib import Path

import pytest

from controller import wiring
from controller.settings import ControllerSettings
from iops_limit.kube import PodRef
from sandbox.fake_kube import FakeKube


@pytest.mark.parametrize(
    ("pod_name", "instance"),
    [("iops-controller-6c9d7-x2k4p", "iops-controller-6c9d7-x2k4p"), ("", "iops-controller")],
    ids=["pod-name-set", "no-pod-name"],
)
def test_an_event_is_reported_by_the_pod_name_else_by_the_component(
    kube_api: FakeKube, kubeconfig: Path, pod_name: str, instance: str
) -> None:
    uid = kube_api.add_pod(kube_api.make_pod("shop", "web", "node-a"))["metadata"]["uid"]
    settings = ControllerSettings(
        prometheus_url="http://127.0.0.1:9", kubeconfig=str(kubeconfig), pod_name=pod_name
    )
    api = wiring.kube_api(settings)
    api.event(PodRef("shop", "web", uid), "IOPSLimited", "limited to 200")
    [event] = kube_api.events("shop")
    assert event["reportingInstance"] == instance
    assert event["reportingComponent"] == "iops-controller"
