"""The ``tracking`` section of a sweep file: the MLflow store and what each trial logs."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field, field_validator

from sparksweep._pydantic import StrictModel
from sparksweep.tracking import DEFAULT_TRACKING_URI, AutologMode, autolog_mode

__all__ = ["LOG_MODELS_MODES", "LogModels", "TrackingSpec"]

LogModels = Literal["improving", "all", "none"]
LOG_MODELS_MODES: tuple[str, ...] = get_args(LogModels)


class TrackingSpec(StrictModel):
    """Where MLflow records the sweep (and registers its champion) and what each trial logs.

    Example:
        >>> [TrackingSpec(**kw).log_models for kw in ({}, {"log_models": True}, {"log_models": False})]
        ['improving', 'all', 'none']
    """

    uri: str = Field(default=DEFAULT_TRACKING_URI, description="MLflow tracking URI.")
    registry_uri: str | None = Field(
        default=None,
        description="MLflow model registry URI, when the registry is not the tracking store: databricks-uc for "
        "Unity Catalog (register.name is then catalog.schema.model), or another store's URI. Omitted: "
        "MLFLOW_REGISTRY_URI, else the tracking URI.",
    )
    autolog: AutologMode = Field(
        default="sparksweep",
        description="What each trial's run records about its estimator. 'sparksweep' (or true): every estimator "
        "setting, its class, and the boosters' per-round validation curves, read after the fit and written in the "
        "trial's one batch (milliseconds). 'mlflow': MLflow's own autologging (also training-set metrics and "
        "plots for scikit-learn, feature-importance plots for LightGBM: 0.2-0.7 s per trial). 'off' (or false): "
        "the estimator's settings only.",
    )
    log_models: LogModels = Field(
        default="improving",
        description="Which trials' fitted models are logged. 'improving': a trial's model is logged when it beats (or "
        "ties) the best value known when it was handed out, so every trial that was the best so far, and the "
        "champion, has one; the others keep their run, params and metrics and a sparksweep.model tag saying the "
        "model was not kept. 'all' (or true): every trial's. 'none' (or false): no trial's.",
    )
    figures: bool = Field(
        default=True,
        description="Draw the sweep's figures and report.html on its parent run, and the champion's on its run, "
        "once after the trials (never per trial); false: none (`sparksweep report` draws them later).",
    )

    @field_validator("autolog", mode="before")
    @classmethod
    def _autolog_mode(cls, value: Any) -> Any:
        return autolog_mode(value) if isinstance(value, bool) else value

    @field_validator("log_models", mode="before")
    @classmethod
    def _log_models_mode(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return "all" if value else "none"
        if value not in LOG_MODELS_MODES:
            raise ValueError(
                f"tracking.log_models must be one of {', '.join(LOG_MODELS_MODES)} (or true/false). Got {value!r} "
                "instead; 'all' logs every trial's model"
            )
        return value
