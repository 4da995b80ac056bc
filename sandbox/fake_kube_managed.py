"""``metadata.managedFields`` for annotations: who set each annotation key, as server-side
field management records it for Update operations.

Deliberately partial: only annotation keys are tracked (the one part of an object the project
attributes), every write is an ``Update`` operation (no server-side apply), and a write made
by the test through the store directly (no manager) only takes ownership away. The rest
follows the real server: a manager owns the keys it set or changed, a key set by another
manager moves to it, a removed key leaves every set, an entry left owning nothing is dropped,
and the writer's entry carries the time of its last write.
"""

from typing import Any

Object = dict[str, Any]


def manager_of(query: dict[str, str], user_agent: str) -> str:
    """``?fieldManager=`` when given, else the User-Agent's product, as the real server does."""
    return query.get("fieldManager") or user_agent.split("/", 1)[0] or "unknown"


def annotation_keys(entry: Object) -> set[str]:
    fields = ((entry.get("fieldsV1") or {}).get("f:metadata") or {}).get("f:annotations") or {}
    return {key.removeprefix("f:") for key in fields}


def track_annotations(old: Object | None, new: Object, manager: str | None, now: str) -> None:
    """Set ``new["managedFields"]`` after a write by ``manager`` took ``old`` to ``new``
    (both object metadata; ``old`` None for a create)."""
    before = (old or {}).get("annotations") or {}
    after = new.get("annotations") or {}
    touched = {key for key, value in after.items() if before.get(key) != value}
    touched |= before.keys() - after.keys()
    if not touched:
        # Nothing of ours changed: the record stays as it was (and a no-op write stays one).
        _keep((old or {}).get("managedFields"), new)
        return
    entries: list[Object] = []
    mine: set[str] = set()
    for entry in (old or {}).get("managedFields") or []:
        keys = annotation_keys(entry) - touched
        if manager is not None and entry.get("manager") == manager:
            mine = keys
        elif keys:
            entries.append(_entry(str(entry.get("manager")), keys, str(entry.get("time"))))
    mine |= {key for key in touched if key in after}
    if manager is not None and mine:
        entries.append(_entry(manager, mine, now))
    _keep(entries, new)


def _keep(entries: list[Object] | None, new: Object) -> None:
    if entries:
        new["managedFields"] = entries
    else:
        new.pop("managedFields", None)


def _entry(manager: str, keys: set[str], time: str) -> Object:
    return {
        "manager": manager,
        "operation": "Update",
        "apiVersion": "v1",
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:annotations": {f"f:{key}": {} for key in sorted(keys)}}},
    }
