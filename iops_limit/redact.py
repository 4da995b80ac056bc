"""Credentials out of text meant for logs, error messages and metric labels.

URLs may carry ``user:password@`` and headers carry bearer tokens or tenant IDs; anything we
print that may contain either goes through here first.
"""

import re
from collections.abc import Iterable

MASK = "***"
# The user-info part of any URL in a text: between "//" and the first "@" of the authority.
_USERINFO = re.compile(r"(?<=//)[^/@\s]+@")


def mask_userinfo(text: str) -> str:
    """Every ``scheme://user:pass@host`` in ``text`` becomes ``scheme://***@host``."""
    return _USERINFO.sub(MASK + "@", text)


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """User-info masked, and every occurrence of each secret value replaced by ``***``."""
    text = mask_userinfo(text)
    # Longest first, so a secret containing another is masked whole.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
