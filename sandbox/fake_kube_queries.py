"""What list and watch queries select: selectors, list pages with continue tokens, and which
event a watch sees for each change."""

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from sandbox.fake_kube_errors import StatusError
from sandbox.fake_kube_selectors import field_selector, label_selector
from sandbox.fake_kube_store import Change, Object, ResourceType, Store


def selection(resource: ResourceType, query: dict[str, str]) -> Callable[[Object], bool]:
    by_label = label_selector(query.get("labelSelector"))
    by_field = field_selector(query.get("fieldSelector"), resource.field_labels)
    return lambda obj: by_label(obj) and by_field(obj)


def number(query: dict[str, str], key: str, default: float) -> float:
    text = query.get(key)
    if text is None:
        return default
    if not text.isdigit():
        raise StatusError(400, f"{key} must be a whole number, got {text!r}")
    return float(text)


def event_for(
    change: Change, namespace: str | None, matches: Callable[[Object], bool]
) -> tuple[str, Object] | None:
    """What a watch with this namespace and selection sees of a change: an object that
    starts or stops matching is ADDED or DELETED for it, as on the real server."""
    if namespace and change.new["metadata"].get("namespace") != namespace:
        return None
    was = change.old is not None and change.type != "ADDED" and matches(change.old)
    now = matches(change.new)
    if change.type == "DELETED":
        return ("DELETED", change.new) if now else None
    if was and now:
        return "MODIFIED", change.new
    if now:
        return "ADDED", change.new
    if was:
        return "DELETED", change.new
    return None


def list_page(
    store: Store, resource: ResourceType, namespace: str | None, query: dict[str, str]
) -> Object:
    token = query.get("continue")
    after = None
    if token:
        since, after = _read_continue(token)
        if since < store.oldest:
            raise StatusError(410, "The provided continue parameter is too old", reason="Expired")
    limit = int(number(query, "limit", 0))
    matches = selection(resource, query)  # checked even when not needed: a bad one is a 400
    filtered = bool(query.get("labelSelector") or query.get("fieldSelector"))
    items, remaining, revision = store.select_page(
        resource, namespace, matches if filtered else None, after, limit
    )
    if token:
        revision = since  # a continued list reports the revision its first page was read at
    metadata: dict[str, Any] = {"resourceVersion": str(revision)}
    if remaining:
        metadata["remainingItemCount"] = remaining
        metadata["continue"] = _write_continue(revision, _position(items[-1]))
    return {
        "kind": f"{resource.kind}List",
        "apiVersion": resource.api_version,
        "metadata": metadata,
        "items": items,
    }


def _position(obj: Object) -> tuple[str, str]:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def _write_continue(revision: int, after: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps([revision, *after]).encode()).decode()


def _read_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        revision, namespace, name = json.loads(base64.urlsafe_b64decode(token))
        return int(revision), (str(namespace), str(name))
    except (ValueError, TypeError, binascii.Error) as error:
        raise StatusError(400, f"invalid continue token {token!r}") from error
