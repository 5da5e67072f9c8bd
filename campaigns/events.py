"""An event as the campaign logic sees it: a name, its properties and when it happened."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping


@dataclass(frozen=True)
class Event:
    name: str
    occurred_at: datetime
    properties: Mapping[str, Any] = field(default_factory=dict, hash=False)
