"""Events leave from their own queue: a stuck API server never blocks a cgroup write."""

import logging

import pytest

from iops_limit.kube import PodRef
from node_writer.api import NodeApi
from node_writer.events import EventQueue
from node_writer.pods import pod_view
from tests.node_writer.helpers import pod_json


class RecordingApi(NodeApi):
    def __init__(self) -> None:
        self.posted: list[tuple[PodRef, str, str, bool]] = []

    def post_event(self, pod: PodRef, reason: str, message: str, *, warning: bool = False) -> None:
        self.posted.append((pod, reason, message, warning))


def test_full_queue_drops_and_logs_instead_of_blocking(caplog: pytest.LogCaptureFixture) -> None:
    api = RecordingApi()
    events = EventQueue(api, size=1)
    pod = pod_view(pod_json())
    with caplog.at_level(logging.WARNING):
        events(pod, "IOPSLimitApplied", "first", False)
        events(pod, "IOPSLimitApplied", "second", False)  # returns at once: the queue is full
    assert "dropped IOPSLimitApplied on team-a/web: second" in caplog.text
    events.start()
    events.stop()
    assert [(reason, message) for _, reason, message, _ in api.posted] == [
        ("IOPSLimitApplied", "first")
    ]
