"""Delivery of alert batches to one or several Alertmanagers, off the cycle's thread.

Each Alertmanager URL has its own worker thread and a one-slot mailbox: :meth:`AlertSender.send`
replaces whatever batch is waiting and returns at once. A newer batch always holds everything
still worth saying (the :class:`~controller.alerts.AlertBook` re-sends active and recently
resolved alerts every cycle), so dropping an undelivered older one loses nothing, and a slow
or dead Alertmanager can neither block a cycle nor let a queue grow. Failures are retried
with exponential backoff and counted per Alertmanager.
"""

import logging
import threading
import time
import urllib.parse
from collections.abc import Sequence
from typing import Any

import prometheus_client
import requests

from controller.alerts import Alert

log = logging.getLogger(__name__)


class AlertSender:
    """Posts each batch to ``<url>/api/v2/alerts`` of every configured Alertmanager."""

    def __init__(
        self,
        urls: Sequence[str],
        registry: prometheus_client.CollectorRegistry,
        *,
        timeout: float = 10.0,
        min_backoff: float = 0.5,
        max_backoff: float = 60.0,
    ) -> None:
        deliveries = prometheus_client.Counter(
            "iops_limit_alert_deliveries",
            "Alert batches Alertmanager accepted, per Alertmanager.",
            ["alertmanager"],
            registry=registry,
        )
        failures = prometheus_client.Counter(
            "iops_limit_alert_delivery_failures",
            "Alert batch deliveries that failed (each retry counts), per Alertmanager.",
            ["alertmanager"],
            registry=registry,
        )
        self._workers = [
            _Delivery(
                url,
                deliveries=deliveries,
                failures=failures,
                timeout=timeout,
                min_backoff=min_backoff,
                max_backoff=max_backoff,
            )
            for url in urls
        ]

    def start(self) -> "AlertSender":
        for worker in self._workers:
            worker.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the workers; a batch still undelivered after ``timeout`` is given up."""
        for worker in self._workers:
            worker.finish()
        for worker in self._workers:
            worker.join(timeout)

    def send(self, alerts: Sequence[Alert]) -> None:
        """Hand the batch over; returns immediately."""
        body = [alert.to_api() for alert in alerts]
        for worker in self._workers:
            worker.offer(body)


def redact(url: str) -> str:
    """The URL without user-info, for logs and metric labels."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


class _Delivery(threading.Thread):
    def __init__(
        self,
        url: str,
        *,
        deliveries: prometheus_client.Counter,
        failures: prometheus_client.Counter,
        timeout: float,
        min_backoff: float,
        max_backoff: float,
    ) -> None:
        self._label = redact(url)
        super().__init__(name=f"alerts->{self._label}", daemon=True)
        self._endpoint = url.rstrip("/") + "/api/v2/alerts"
        self._deliveries = deliveries.labels(self._label)
        self._failures = failures.labels(self._label)
        self._timeout = timeout
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._session = requests.Session()
        self._mailbox: list[dict[str, Any]] | None = None
        self._stopping = False
        self._changed = threading.Condition()

    def offer(self, batch: list[dict[str, Any]]) -> None:
        with self._changed:
            self._mailbox = batch
            self._changed.notify()

    def finish(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify()

    def run(self) -> None:
        backoff = self._min_backoff
        while True:
            batch = self._take()
            if batch is None:
                return
            if self._post(batch):
                backoff = self._min_backoff
                continue
            # Put the batch back unless a newer one arrived meanwhile, then wait before retrying.
            with self._changed:
                if self._mailbox is None:
                    self._mailbox = batch
                deadline = time.monotonic() + backoff
                while not self._stopping and (remaining := deadline - time.monotonic()) > 0:
                    self._changed.wait(remaining)
            backoff = min(backoff * 2, self._max_backoff)

    def _take(self) -> list[dict[str, Any]] | None:
        with self._changed:
            while self._mailbox is None and not self._stopping:
                self._changed.wait()
            if self._stopping:
                return None
            batch, self._mailbox = self._mailbox, None
            return batch

    def _post(self, batch: list[dict[str, Any]]) -> bool:
        try:
            response = self._session.post(self._endpoint, json=batch, timeout=self._timeout)
        except requests.RequestException as error:
            self._failures.inc()
            log.warning("alerts to %s not delivered: %s", self._label, type(error).__name__)
            return False
        except Exception:
            # A batch that cannot even be sent (a bug, a value JSON cannot carry) must not end
            # this thread: it is counted and retried until a newer batch replaces it.
            self._failures.inc()
            log.exception("alerts to %s not sent", self._label)
            return False
        if response.status_code >= 300:
            self._failures.inc()
            log.warning(
                "alerts to %s refused: HTTP %d %s",
                self._label,
                response.status_code,
                response.text[:200],
            )
            return False
        self._deliveries.inc()
        log.debug("delivered %d alerts to %s", len(batch), self._label)
        return True
