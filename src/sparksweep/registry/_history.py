"""The promotion history of a registered model, kept in the registry itself.

Each change of ``@champion`` is one tag on the registered model, ``sparksweep.history.<ms>.<version>`` holding a
JSON record: keys never collide (a version number is unique), writes need no read-modify-write of a shared value, and
the history survives as long as the registered model does, readable by anyone with the registry.
"""

from __future__ import annotations

import getpass
import json
import socket
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["HISTORY_PREFIX", "PromotionEvent", "read_history", "record_event"]

HISTORY_PREFIX = "sparksweep.history."
_TAG_VALUE_LIMIT = 4900  # MLflow's SQL store keeps at most 5000 characters per registered-model tag value


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in containers without a passwd entry
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class PromotionEvent:
    """One change of the champion: which version replaced which, when, how, by whom and with what scores."""

    version: str
    replaced: str | None
    action: str
    """``promote`` (a sweep's gate), ``force`` (promoted against the gate), ``manual`` (champion promote) or
    ``rollback``."""
    metric: str | None = None
    score: float | None = None
    replaced_score: float | None = None
    reason: str = ""
    sweep_run_id: str | None = None
    at: float = 0.0
    by: str = ""

    @property
    def when(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(self.at))


def record_event(client: MlflowClient, name: str, event: PromotionEvent) -> PromotionEvent:
    """Stamp ``event`` with the time and user and store it as a tag on the registered model ``name``."""
    stamped = PromotionEvent(**{**asdict(event), "at": event.at or time.time(), "by": event.by or _who()})
    payload = asdict(stamped)
    text = json.dumps(payload)
    if len(text) > _TAG_VALUE_LIMIT:
        payload["reason"] = payload["reason"][: max(0, len(payload["reason"]) - (len(text) - _TAG_VALUE_LIMIT))]
        text = json.dumps(payload)
    key = f"{HISTORY_PREFIX}{int(stamped.at * 1000):013d}.{stamped.version}"
    client.set_registered_model_tag(name, key, text)
    return stamped


def read_history(client: MlflowClient, name: str) -> list[PromotionEvent]:
    """Every recorded champion change of ``name``, oldest first."""
    tags = client.get_registered_model(name).tags
    events = [PromotionEvent(**json.loads(v)) for k, v in sorted(tags.items()) if k.startswith(HISTORY_PREFIX)]
    return sorted(events, key=lambda e: e.at)
