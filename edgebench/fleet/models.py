"""The API's request bodies: typed, unknown fields refused, every text bounded."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

LABEL = re.compile(r"^[A-Za-z0-9._-]{1,32}$")


def check_name(name: str) -> str:
    """Any printable text of 1 to 64 characters: shown escaped everywhere, never used as a path on the server."""
    if not name or len(name) > 64 or name != name.strip() or not name.isprintable():
        raise ValueError(f"'{name[:80]}' is not a device name: give 1 to 64 printable characters, no leading or "
                         "trailing space")
    return name


def check_labels(labels: List[str]) -> List[str]:
    bad = next((label for label in labels if not LABEL.match(label)), None)
    if bad is not None:
        raise ValueError(f"label '{bad[:80]}' is not valid: letters, digits, '.', '_' and '-', 1 to 32 of them")
    if len(labels) > 16:
        raise ValueError(f"{len(labels)} labels: give at most 16")
    return sorted(set(labels))


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterIn(Body):
    name: str
    labels: List[str] = []
    facts: Dict[str, Any] = {}
    clock: Optional[float] = None  # the device's clock: recorded as a skew, never trusted for leases

    _name = field_validator("name")(check_name)
    _labels = field_validator("labels")(check_labels)


class LeaseIn(Body):
    wait: float = Field(20.0, ge=0, le=60)
    clock: Optional[float] = None


class LeaseRef(Body):
    lease_id: str = Field(min_length=1, max_length=64)


class CompleteIn(LeaseRef):
    outcome: Literal["succeeded", "failed"]
    result_sha256: Optional[str] = Field(None, pattern=r"^[0-9a-f]{64}$")
    error: str = Field("", max_length=4000)


class ReleaseIn(LeaseRef):
    reason: str = Field("", max_length=4000)


class SubmitIn(Body):
    bundle_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bundle_name: str = Field(min_length=1, max_length=128)
    device: Optional[str] = None
    labels: List[str] = []
    args: List[str] = Field([], max_length=64)
    max_duration: Optional[float] = Field(None, gt=0, le=7 * 86400)
    deadline_in: Optional[float] = Field(None, gt=0, le=30 * 86400)  # seconds from now, on the server's clock
    max_attempts: Optional[int] = Field(None, ge=1, le=20)

    _device = field_validator("device")(lambda v: v if v is None else check_name(v))
    _labels = field_validator("labels")(check_labels)


class TokenIn(Body):
    role: Literal["submit", "register"]
    expires_in: Optional[float] = Field(None, gt=0, le=10 * 365 * 86400)
