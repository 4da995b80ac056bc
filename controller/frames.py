"""Column names of the frames the rule engine reads and writes (the frame contract).

The Prometheus edge and the service build frames with these columns; rule expressions and
summary templates may name the ones in :data:`EXPRESSION_COLUMNS`.
"""

KEY_COLUMNS = ("namespace", "pod", "container")
# The four directions a limit can have, in the order reasons and tables list them.
DIRECTIONS = ("write_iops", "read_iops", "write_bps", "read_bps")
IOPS_DIRECTIONS = frozenset({"read_iops", "write_iops"})
RATE_COLUMNS = ("read_iops", "write_iops", "total_iops", "read_bps", "write_bps")
LIMIT_COLUMNS = tuple(f"limit_{direction}" for direction in DIRECTIONS)

STRING_COLUMNS = (*KEY_COLUMNS, "node")
NUMBER_COLUMNS = (*RATE_COLUMNS, *LIMIT_COLUMNS)
EXPRESSION_COLUMNS = (*STRING_COLUMNS, *NUMBER_COLUMNS)

# Optional columns of the current frame.
LABELS_COLUMN = "labels"
TIME_COLUMN = "time"

APPLIED_COLUMNS = (*KEY_COLUMNS, *LIMIT_COLUMNS, "group", "rule", "since", "changed")
# Containers whose limit was released recently, and when (the minimum hold runs from then).
RELEASED_COLUMNS = (*KEY_COLUMNS, "released")

ACTIONS = ("apply", "update", "keep", "release", "none")
DECISION_COLUMNS = (
    *KEY_COLUMNS,
    "node",
    "action",
    *LIMIT_COLUMNS,
    "group",
    "rule",
    "severity",
    "summary",
    "reason",
    *RATE_COLUMNS,
)


def limit_column(direction: str) -> str:
    return f"limit_{direction}"
