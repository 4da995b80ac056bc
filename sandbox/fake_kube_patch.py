"""The three patch formats the real API server accepts for built-in objects.

- ``application/merge-patch+json`` (RFC 7386): objects merge, ``null`` deletes, lists replace.
- ``application/strategic-merge-patch+json``: like a merge patch, except lists of objects
  with a ``name`` (containers, env, ports, volumes...) merge item by item on ``name``, as
  Kubernetes' patch strategy for them does. ``$patch`` and other directives are refused
  (422) rather than half-applied.
- ``application/json-patch+json`` (RFC 6902): ``add``, ``remove``, ``replace``, ``test``;
  a failed ``test`` or a bad path is 422, as on the real server.
"""

import copy
from typing import Any

from sandbox.fake_kube_errors import StatusError

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
CONTENT_TYPES = (MERGE, STRATEGIC, JSON_PATCH)


def apply_patch(content_type: str, target: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Return a patched copy of ``target``; ``target`` itself is left alone."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == JSON_PATCH:
        if not isinstance(patch, list):
            raise StatusError(400, "a JSON patch must be a list of operations")
        return json_patch(target, patch)
    if media_type not in (MERGE, STRATEGIC):
        raise StatusError(
            415,
            f"the body of the request was in an unknown format - accepted media types: "
            f"{', '.join(CONTENT_TYPES)}; got {content_type!r}",
        )
    if not isinstance(patch, dict):
        raise StatusError(400, "a merge patch must be a JSON object")
    # A dict patch merged into a dict target is always a dict.
    merged: dict[str, Any] = (
        merge_patch(target, patch) if media_type == MERGE else strategic_merge_patch(target, patch)
    )
    return merged


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _named_items(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, dict) and isinstance(item.get("name"), str) for item in value
    )


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """A merge patch that merges lists of named objects on ``name``."""
    if not isinstance(patch, dict):
        if _named_items(target) and _named_items(patch) and patch:
            return _merge_named_lists(target, patch)
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            raise StatusError(422, f"strategic merge patch directive {key!r} is not supported")
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _merge_named_lists(target: list[Any], patch: list[Any]) -> list[Any]:
    result = copy.deepcopy(target)
    positions = {item["name"]: index for index, item in enumerate(result)}
    for item in patch:
        index = positions.get(item["name"])
        if index is None:
            positions[item["name"]] = len(result)
            result.append(copy.deepcopy(item))
        else:
            result[index] = strategic_merge_patch(result[index], item)
    return result


def _pointer(path: Any) -> list[str]:
    """RFC 6901: ``/metadata/annotations/iops-limit~1limit`` -> [..., "iops-limit/limit"]."""
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise StatusError(422, f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]]


def _parent(document: Any, parts: list[str], path: str) -> Any:
    node = document
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise StatusError(422, f"path {path!r} does not exist")
    return node


def _list_index(node: list[Any], part: str, path: str, *, adding: bool) -> int:
    if adding and part == "-":
        return len(node)
    limit = len(node) + 1 if adding else len(node)
    if not part.isdigit() or int(part) >= limit:
        raise StatusError(422, f"index {part!r} out of range in {path!r}")
    return int(part)


def _get(node: Any, part: str, path: str) -> Any:
    if isinstance(node, dict) and part in node:
        return node[part]
    if isinstance(node, list):
        return node[_list_index(node, part, path, adding=False)]
    raise StatusError(422, f"path {path!r} does not exist")


def json_patch(target: dict[str, Any], operations: list[Any]) -> dict[str, Any]:
    """RFC 6902 add/remove/replace/test, all or nothing."""
    document = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict):
            raise StatusError(400, f"JSON patch operation must be an object: {operation!r}")
        op, path = operation.get("op"), str(operation.get("path"))
        parts = _pointer(operation.get("path"))
        if not parts:
            raise StatusError(422, f"JSON patch {op!r} on the whole object is not supported")
        parent, last = _parent(document, parts, path), parts[-1]
        if op == "test":
            if _get(parent, last, path) != operation.get("value"):
                raise StatusError(422, f"testing value {path} failed: test operation failed")
        elif op == "remove":
            _get(parent, last, path)
            del parent[int(last) if isinstance(parent, list) else last]
        elif op in ("add", "replace"):
            if "value" not in operation:
                raise StatusError(422, f"JSON patch {op} on {path!r} has no value")
            _put(parent, last, path, copy.deepcopy(operation["value"]), adding=op == "add")
        else:
            raise StatusError(422, f"JSON patch operation {op!r} is not supported")
    return document


def _put(parent: Any, last: str, path: str, value: Any, *, adding: bool) -> None:
    if not adding:
        _get(parent, last, path)
    if isinstance(parent, list):
        index = _list_index(parent, last, path, adding=adding)
        if adding:
            parent.insert(index, value)
        else:
            parent[index] = value
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise StatusError(422, f"path {path!r} does not exist")
