"""Annotation keys of the contract between the controller and the node writer (DESIGN.md)."""

PREFIX = "iops-limit/"

LIMIT = PREFIX + "limit"
READ_IOPS = PREFIX + "read-iops"
WRITE_IOPS = PREFIX + "write-iops"
READ_BPS = PREFIX + "read-bps"
WRITE_BPS = PREFIX + "write-bps"
DIRECTION_KEYS = (READ_IOPS, WRITE_IOPS, READ_BPS, WRITE_BPS)

MANAGED_BY = PREFIX + "managed-by"
MANAGED_BY_CONTROLLER = "iops-controller"
RULE = PREFIX + "rule"
SINCE = PREFIX + "since"
REASON = PREFIX + "reason"
EXEMPT = PREFIX + "exempt"
