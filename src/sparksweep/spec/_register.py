"""The ``register`` section of a sweep file: the registered model's name and the gate a candidate must pass,
with its thresholds (``"auc_roc >= 0.7"``)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from sparksweep._pydantic import StrictModel

__all__ = ["RegisterSpec", "Threshold"]

_THRESHOLD = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|>|<)\s*([-+0-9.eE]+)\s*$")


class Threshold(StrictModel):
    """A bound a candidate's test score must meet to be promoted, written ``"auc_roc >= 0.7"`` in a sweep file.

    Example:
        >>> Threshold.parse("auc_roc >= 0.7").holds(0.72)
        True
    """

    metric: str
    op: Literal[">=", "<=", ">", "<"]
    value: float

    @classmethod
    def parse(cls, text: str) -> Threshold:
        """Read ``"<metric> <op> <number>"``; :class:`ValueError` naming the text otherwise."""
        match = _THRESHOLD.match(text)
        if match is None:
            raise ValueError(f"threshold {text!r} is not of the form '<metric> <op> <number>', e.g. 'auc_roc >= 0.7'")
        return cls(metric=match[1], op=match[2], value=float(match[3]))

    def holds(self, score: float) -> bool:
        return {">=": score >= self.value, "<=": score <= self.value, ">": score > self.value, "<": score < self.value}[
            self.op
        ]

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


class RegisterSpec(StrictModel):
    """Registration of the champion in the MLflow Model Registry, and the gate a candidate must pass.

    Example:
        >>> spec = RegisterSpec.model_validate({"name": "churn", "min_improvement": 0.01, "improvement": "relative",
        ...                                     "confidence": 0.95, "thresholds": ["auc_roc >= 0.7"]})
        >>> str(spec.thresholds[0])
        'auc_roc >= 0.7'
    """

    name: str = Field(min_length=1, description="The registered model name.")
    min_improvement: float = Field(
        default=0.0, ge=0, description="How much better a candidate must be to replace the champion (see improvement)."
    )
    improvement: Literal["absolute", "relative"] = Field(
        default="absolute",
        description="absolute: min_improvement is in metric units; relative: a share of the champion's score "
        "(0.01 = 1% better).",
    )
    confidence: float | None = Field(
        default=None,
        gt=0.5,
        lt=1,
        description="When set, a paired bootstrap over the test rows must show the improvement at this confidence "
        "(one-sided); omitted: the point estimate decides.",
    )
    bootstrap_samples: int = Field(default=1000, ge=100, description="Resamples of the paired bootstrap.")
    thresholds: list[Threshold] = Field(
        default_factory=list,
        description="Bounds the candidate's test scores must meet, e.g. ['auc_roc >= 0.7', 'log_loss <= 0.5'].",
    )
    refit: bool | Literal["all"] = Field(
        default=False,
        description="true: refit the best trial's family and params on train + valid before the gate. 'all': that, "
        "and a promoted candidate is fitted once more on every row (train, valid and test) and that model is "
        "registered, with the gate's scores taken from the model before that refit (the test rows are then no "
        "longer unseen by the registered model).",
    )
    force: bool = Field(
        default=False,
        description="Promote even when the gate says no (also when the champion's features differ from the data's).",
    )
    stage: Literal["Staging", "Production"] | None = Field(
        default=None,
        description="Also move a promoted version to this legacy registry stage (deprecated by MLflow; for old "
        "clients reading models:/<name>/Production).",
    )

    @field_validator("thresholds", mode="before")
    @classmethod
    def _parse_thresholds(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            return [Threshold.parse(v) if isinstance(v, str) else v for v in value]
        return value

    @field_validator("thresholds")
    @classmethod
    def _known_threshold_metrics(cls, value: list[Threshold]) -> list[Threshold]:
        from sparksweep.metrics import get_metric

        for threshold in value:
            get_metric(threshold.metric)
        return value
