"""Bundled data sets: a generated churn feature table like the one a gold layer would hold.

Example:
    >>> df = generate_churn(1000, seed=1)
    >>> list(df.columns)[:3], 0.05 < df["label"].mean() < 0.5
    (['user_id', 'feature_date', 'event_count_30d'], True)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["CHURN_COLUMNS", "generate_churn"]

CHURN_COLUMNS = [
    "user_id",
    "feature_date",
    "event_count_30d",
    "active_days_30d",
    "days_since_last_event",
    "purchase_count_30d",
    "account_age_days",
    "rolling_7d_events",
    "label",
]


def generate_churn(n_rows: int = 100_000, seed: int = 0, feature_date: str = "2026-11-01") -> pd.DataFrame:
    """A user-level churn table with a non-linear, noisy link between behaviour and churn.

    Users have a latent engagement level and a trend (activity rising or fading). Churn risk rises steeply once
    the last event is more than about two weeks old, with fading activity, and for new accounts; purchases protect
    heavy users far more than light ones. About a fifth of users churn. The effects interact and saturate, so tree
    ensembles beat a linear model, and label noise caps every model well below a perfect score.
    """
    if n_rows < 1:
        raise ValueError(f"n_rows must be at least 1, got {n_rows}")
    rng = np.random.default_rng(seed)
    engagement = rng.gamma(shape=1.6, scale=1.0, size=n_rows)  # latent activity level
    trend = rng.normal(0.0, 0.45, size=n_rows)  # < 0: fading
    account_age = np.clip(rng.lognormal(mean=5.6, sigma=0.9, size=n_rows), 1, 3650).astype(np.int64)

    rate_30d = engagement * 4.0 * np.exp(0.5 * trend)
    event_count = rng.poisson(rate_30d * 30 / 7)
    active_days = np.minimum(30, rng.binomial(30, 1 - np.exp(-rate_30d / 3.0)))
    active_days = np.where(event_count == 0, 0, np.maximum(active_days, 1))
    recent_share = np.clip(0.23 * np.exp(trend), 0.0, 1.0)
    rolling_7d = rng.binomial(event_count, recent_share)
    gap_scale = 90.0 / (1.0 + active_days) * np.exp(-1.5 * trend)
    days_since_last = np.where(event_count == 0, 30 + rng.exponential(60.0, n_rows), rng.exponential(gap_scale)).astype(
        np.int64
    )
    purchases = rng.poisson(0.15 * engagement * (1 + (account_age > 180)))

    logit = (
        -2.0
        + 2.6 / (1 + np.exp(-(days_since_last - 14) / 2.0))  # a cliff after about two weeks of silence
        - 1.6 * np.tanh(rolling_7d / (event_count + 1.0) * 8.0 - 1.8)  # fading activity, seen in the 7d share
        + 1.2 * np.sin(np.log1p(event_count))  # a non-monotone link to volume
        + 1.1 * np.exp(-account_age / 60.0)  # new accounts leave early
        - 0.9 * np.log1p(purchases) * (active_days > 10)  # purchases protect engaged users
        + 0.8 * ((active_days < 4) & (event_count > 20))  # bursty single-day users
        - 0.35 * np.log1p(rolling_7d)
        + rng.normal(0.0, 0.7, n_rows)  # what no feature explains
    )
    label = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pd.DataFrame(
        {
            "user_id": np.arange(1, n_rows + 1, dtype=np.int64),
            "feature_date": pd.to_datetime(np.full(n_rows, feature_date)),
            "event_count_30d": event_count.astype(np.int64),
            "active_days_30d": active_days.astype(np.int64),
            "days_since_last_event": days_since_last,
            "purchase_count_30d": purchases.astype(np.int64),
            "account_age_days": account_age,
            "rolling_7d_events": rolling_7d.astype(np.int64),
            "label": label,
        }
    )
