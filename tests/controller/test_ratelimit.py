import threading

import pytest

from controller.ratelimit import TokenBucket


class FakeTime:
    """A clock that only moves when the bucket sleeps or the test advances it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_burst_passes_without_waiting_then_calls_are_spaced_at_qps() -> None:
    time = FakeTime()
    bucket = TokenBucket(qps=5, burst=3, clock=time.clock, sleep=time.sleep)
    waits = [bucket.acquire() for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([0.2, 0.2])


def test_idle_time_refills_the_bucket_up_to_the_burst_only() -> None:
    time = FakeTime()
    bucket = TokenBucket(qps=10, burst=2, clock=time.clock, sleep=time.sleep)
    for _ in range(2):
        bucket.acquire()
    time.now += 60
    waits = [bucket.acquire() for _ in range(3)]
    assert waits == pytest.approx([0.0, 0.0, 0.1])


def test_concurrent_callers_queue_behind_each_other_at_the_rate() -> None:
    frozen = 1000.0  # the clock stands still: every caller arrives at the same instant
    bucket = TokenBucket(qps=4, burst=1, clock=lambda: frozen, sleep=lambda _: None)
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        waited = bucket.acquire()
        with lock:
            waits.append(waited)

    threads = [threading.Thread(target=take) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(waits) == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])


def test_a_bucket_without_rate_or_burst_is_refused() -> None:
    with pytest.raises(ValueError, match="qps must be positive"):
        TokenBucket(qps=0, burst=1)
