"""A small set of report records: two rules, two namespaces, a released limit, a person's."""

from controller.report import LimitRecord, Report

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z

WRITER = LimitRecord(
    namespace="team-a",
    pod="writer-0",
    container="app",
    node="node-a",
    group="noisy-neighbours",
    rule="sustained-writer",
    limits={"write_iops": 500.0},
    since=NOW - 3600,
    reason="write_iops 1480 > 1000 for 5m",
    summary="team-a/writer-0 app wrote 1480 IOPS for 5m",
    observed_now={"read_iops": 3.0, "write_iops": 498.0, "read_bps": 12_000.0, "write_bps": 2.0e6},
    observed_at_decision={"write_iops": 1480.0, "write_bps": 6.1e6},
)
OTHER_TEAM = LimitRecord(
    namespace="team-b",
    pod="etl-7",
    container="worker",
    node="node-b",
    group="noisy-neighbours",
    rule="sustained-writer",
    limits={"write_iops": 650.0},
    since=NOW - 600,
    reason="write_iops 1300 > 1000 for 5m",
)
RELEASED = LimitRecord(
    namespace="team-a",
    pod="batch-1",
    container="job",
    node="node-a",
    group="noisy-neighbours",
    rule="sustained-writer",
    limits={"write_iops": 500.0},
    since=NOW - 7200,
    released=NOW - 5400,
    reason="write_iops 2100 > 1000 for 5m",
)
READER = LimitRecord(
    namespace="team-a",
    pod="scan-3",
    container="db",
    node="node-a",
    group="noisy-neighbours",
    rule="hot-reader",
    limits={"read_iops": 800.0, "read_bps": 50e6},
    since=NOW - 60,
    severity="info",
    reason="read_iops 4000 > 2000 for 1m",
)
BY_HAND = LimitRecord(
    namespace="ops",
    pod="backup-0",
    container="restic",
    node="node-c",
    group="",
    rule="",
    limits={"write_bps": 20e6},
    since=None,
)

REPORT = Report(records=[BY_HAND, RELEASED, WRITER, READER, OTHER_TEAM], now=NOW, window=86400.0)
