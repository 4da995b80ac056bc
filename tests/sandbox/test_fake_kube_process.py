"""``python -m sandbox.fake_kube`` as the demo runs it: a process serving until SIGTERM."""

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes.client import CoreV1Api, V1Pod

from iops_limit.kube import load_api_client
from sandbox.fake_kube_objects import make_pod

ROOT = Path(__file__).resolve().parents[2]
FAKE_KUBE = (sys.executable, "-m", "sandbox.fake_kube")
DEADLINE = 30.0  # seconds; generous, the machine is shared


def first_line(process: subprocess.Popen[str]) -> str:
    """The first line the process prints, waiting at most DEADLINE."""
    stdout = process.stdout
    assert stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(DEADLINE)
    assert lines and lines[0], "the fake API printed no URL"
    return lines[0].strip()


@pytest.fixture
def pods_file(tmp_path: Path) -> Path:
    full = make_pod("shop", "full", "node-b", labels={"app": "full"})
    short = {"namespace": "shop", "name": "short", "node": "node-a", "qos": "Guaranteed"}
    path = tmp_path / "pods.yaml"
    path.write_text(yaml.safe_dump({"pods": [short, full]}))
    return path


@pytest.fixture
def served(tmp_path: Path, pods_file: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [*FAKE_KUBE, "--port", "0", "--kubeconfig", str(kubeconfig), "--pods", str(pods_file)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, kubeconfig
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(DEADLINE)


def test_the_process_serves_the_pods_file_and_pods_posted_at_run_time(
    served: tuple[subprocess.Popen[str], Path],
) -> None:
    process, kubeconfig = served
    url = first_line(process)
    assert url.startswith("http://127.0.0.1:")
    with load_api_client(str(kubeconfig)) as api:
        core = CoreV1Api(api)
        pods = core.list_pod_for_all_namespaces().to_dict()["items"]
        assert sorted(pod["metadata"]["name"] for pod in pods) == ["full", "short"]
        nodes = core.list_node().to_dict()["items"]
        assert sorted(node["metadata"]["name"] for node in nodes) == ["node-a", "node-b"]
        late = V1Pod.from_dict(make_pod("shop", "late", "node-a"))
        assert late is not None
        core.create_namespaced_pod("shop", late)
        short = core.read_namespaced_pod("short", "shop").to_dict()
        assert short["status"]["qos_class"] == "Guaranteed"
        assert len(core.list_namespaced_pod("shop").to_dict()["items"]) == 3
    process.send_signal(signal.SIGTERM)
    assert process.wait(DEADLINE) == 0


def test_a_bad_pods_file_stops_the_process_naming_file_and_entry(tmp_path: Path) -> None:
    pods_file = tmp_path / "pods.yaml"
    pods_file.write_text(
        yaml.safe_dump([{"namespace": "shop", "name": "p", "node": "n", "qos": "Gold"}])
    )
    result = subprocess.run(
        [*FAKE_KUBE, "--kubeconfig", str(tmp_path / "kc"), "--pods", str(pods_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert result.returncode == 2
    assert f"{pods_file}: pod #1: qos 'Gold'" in result.stderr
    assert result.stdout == ""


def test_a_pod_the_api_refuses_in_the_pods_file_is_named(tmp_path: Path) -> None:
    pods_file = tmp_path / "pods.yaml"
    pods_file.write_text(yaml.safe_dump([{"namespace": "shop", "name": "Bad_Name", "node": "n"}]))
    result = subprocess.run(
        [*FAKE_KUBE, "--kubeconfig", str(tmp_path / "kc"), "--pods", str(pods_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert result.returncode == 2
    assert f'{pods_file}: pod #1: Pod "Bad_Name" is invalid' in result.stderr
