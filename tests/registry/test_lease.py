"""The registry lease: exclusive while held, a clear error when it is never released, stale leases are broken."""

from __future__ import annotations

import time

import pytest
from mlflow import MlflowClient

from sparksweep.errors import RegistryError
from sparksweep.registry import lease_name, registry_lease


def test_lease_is_exclusive_and_released(tracking_uri: str) -> None:
    client = MlflowClient(tracking_uri, tracking_uri)
    with registry_lease(client, "m"):
        assert client.get_registered_model(lease_name("m")).name == "m.sparksweep-lease"
        with (
            pytest.raises(RegistryError, match=r"delete 'm\.sparksweep-lease' and retry"),
            registry_lease(client, "m", wait=0.3),
        ):
            pass
    assert [m.name for m in client.search_registered_models()] == []


def test_an_abandoned_lease_is_broken(tracking_uri: str) -> None:
    client = MlflowClient(tracking_uri, tracking_uri)
    client.create_registered_model(lease_name("m"))  # a holder that died
    time.sleep(0.05)
    started = time.monotonic()
    with registry_lease(client, "m", wait=5, stale_after=0.01):
        assert time.monotonic() - started < 5
