"""Events posted from their own thread, so a slow API server never delays a cgroup write."""

import logging
import queue
import threading

from node_writer.api import NodeApi
from node_writer.pods import PodView

log = logging.getLogger(__name__)

_STOP = None


class EventQueue:
    """A bounded queue of Events and the thread posting them; full means dropped (and logged)."""

    def __init__(self, api: NodeApi, size: int = 1000) -> None:
        self._api = api
        self._queue: queue.Queue[tuple[PodView, str, str, bool] | None] = queue.Queue(size)
        self._thread = threading.Thread(target=self._run, name="events", daemon=True)

    def __call__(self, pod: PodView, reason: str, message: str, warning: bool) -> None:
        try:
            self._queue.put_nowait((pod, reason, message, warning))
        except queue.Full:
            log.warning("event queue full: dropped %s on %s: %s", reason, pod.key, message)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        """Post what is queued (within ``timeout``), then stop."""
        if self._thread.is_alive():
            try:
                self._queue.put(_STOP, timeout=timeout)
            except queue.Full:
                log.warning("events still queued at shutdown were not posted")
                return
            self._thread.join(timeout)

    def _run(self) -> None:
        while (item := self._queue.get()) is not _STOP:
            pod, reason, message, warning = item
            self._api.post_event(pod.ref, reason, message, warning=warning)
