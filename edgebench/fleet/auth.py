"""Tokens and roles. A token reads `eb<role letter>_<id>_<secret>`; the database keeps its id, its role and the
sha256 of the whole token, never the token itself, and the check compares digests in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Optional

from sqlalchemy.orm import Session

from edgebench.errors import EdgebenchError
from edgebench.fleet.db import Token

ROLES = {"admin": "a", "submit": "s", "register": "r", "device": "d"}
_TOKEN = re.compile(r"^eb([asrd])_([0-9a-f]{12})_([A-Za-z0-9_-]{20,64})$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class AuthError(Exception):
    """401 (no valid token) or 403 (a valid token of the wrong role), with the reason."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, kw_only=True)
class Caller:
    token_id: str
    role: str
    device_id: Optional[int]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(session: Session, role: str, expires_in: Optional[float] = None,
              device_id: Optional[int] = None) -> str:
    """Creates a token of `role`; returns it (the only time it exists in plain text)."""
    if role not in ROLES:
        raise EdgebenchError(f"role '{role}' is not a role: give one of {', '.join(ROLES)}")
    token_id = secrets.token_hex(6)
    token = f"eb{ROLES[role]}_{token_id}_{secrets.token_urlsafe(32)}"
    now = time.time()
    session.add(Token(id=token_id, role=role, secret_hash=digest(token), created_at=now,
                      expires_at=None if expires_in is None else now + expires_in, device_id=device_id))
    return token


def check(session: Session, token: Optional[str], roles: tuple) -> Caller:
    """The caller behind `token` when its role is one of `roles`; AuthError otherwise (nothing changes)."""
    if not token:
        raise AuthError(401, "no token: send 'Authorization: Bearer TOKEN'")
    match = _TOKEN.match(token)
    row = session.get(Token, match.group(2)) if match else None
    # the digest is compared even when no row matched, so a wrong id and a wrong secret take the same time
    expected = row.secret_hash if row is not None else digest("")
    if not hmac.compare_digest(digest(token), expected) or row is None:
        raise AuthError(401, "the token is not valid")
    if row.revoked_at is not None:
        raise AuthError(401, "the token was revoked")
    if row.expires_at is not None and row.expires_at <= time.time():
        raise AuthError(401, "the token has expired")
    if row.role not in roles:
        raise AuthError(403, f"a {row.role} token cannot do this: it needs a {' or '.join(roles)} token")
    return Caller(token_id=row.id, role=row.role, device_id=row.device_id)


def token_role(token: str) -> Optional[str]:
    """The role a token's prefix names (for the agent and the CLI; the server trusts only its database)."""
    match = _TOKEN.match(token)
    return next((role for role, letter in ROLES.items() if match and letter == match.group(1)), None)


def parse_duration(text: str) -> float:
    """`90s`, `15m`, `12h`, `7d`, `2w` -> seconds."""
    match = _DURATION.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise EdgebenchError(f"--expires {text} is not a duration: give a number and a unit, e.g. 90s, 15m, 12h, 7d, 2w")
    return float(match.group(1)) * _UNITS[match.group(2)]


def token_id_of(text: str) -> str:
    """The id in a whole token, or the id itself."""
    match = _TOKEN.match(text)
    if match:
        return match.group(2)
    if re.fullmatch(r"[0-9a-f]{12}", text):
        return text
    raise EdgebenchError(f"'{text[:20]}' is not a token or a token id (12 hex digits, as `fleet token create` "
                         "printed it)")
