"""The object metadata checks the real API server makes on every write, so that code tested
against the fake is refused here as it would be in a cluster: names, labels, annotations."""

import re
from typing import Any

from sandbox.fake_kube_errors import StatusError

# DNS-1123 subdomain (object names) and label (namespaces), as the real server checks them.
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# The name part of a qualified key (label and annotation keys), and label values.
_KEY_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_MAX_ANNOTATIONS_BYTES = 256 * 1024


def check_kind(kind: str, api_version: str, obj: dict[str, Any]) -> None:
    """A body of another kind sent to this resource's path is refused (400)."""
    for field, expected in (("kind", kind), ("apiVersion", api_version)):
        stated = obj.get(field)
        if stated and stated != expected:
            raise StatusError(400, f"{field} {stated!r} sent to the path of {expected!r}")


def check_metadata(kind: str, metadata: dict[str, Any]) -> None:
    """Names, label and annotation maps; 400 for a map of the wrong shape (the real server
    cannot decode it), 422 Invalid for a value it decodes but rejects."""
    name = str(metadata.get("name", ""))
    if len(name) > 253 or not _SUBDOMAIN.match(name):
        _invalid(kind, name, "metadata.name", name, "a lowercase RFC 1123 subdomain")
    namespace = metadata.get("namespace")
    if namespace is not None and (len(str(namespace)) > 63 or not _DNS_LABEL.match(str(namespace))):
        _invalid(kind, name, "metadata.namespace", namespace, "a lowercase RFC 1123 label")
    for field in ("labels", "annotations"):
        values = metadata.get(field)
        if values is None:
            continue
        if not isinstance(values, dict) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in values.items()
        ):
            raise StatusError(400, f"metadata.{field} must map strings to strings, got {values!r}")
        for key in values:
            if not _qualified_name(key):
                _invalid(kind, name, f"metadata.{field}", key, "a qualified name")
    for key, value in (metadata.get("labels") or {}).items():
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            _invalid(kind, name, f"metadata.labels[{key}]", value, "a valid label value")
    annotations = metadata.get("annotations") or {}
    if sum(len(key) + len(value) for key, value in annotations.items()) > _MAX_ANNOTATIONS_BYTES:
        _invalid(kind, name, "metadata.annotations", "...", "at most 256 KiB in total")


def tidy(metadata: dict[str, Any]) -> None:
    """Drop empty label and annotation maps: the real server never returns them (omitempty),
    and a JSON patch adding to ``/metadata/annotations/x`` then fails as it would there."""
    for field in ("labels", "annotations"):
        if field in metadata and not metadata[field]:
            del metadata[field]


def _qualified_name(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
        return False
    return len(name) <= 63 and bool(_KEY_NAME.match(name))


def _invalid(kind: str, name: str, field: str, value: object, expected: str) -> None:
    raise StatusError(
        422, f'{kind} "{name}" is invalid: {field}: Invalid value: {value!r}: must be {expected}'
    )
