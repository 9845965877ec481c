"""The registry lease: exclusive while held, a clear error when it is never released, stale leases are broken."""

from __future__ import annotations

import threading
import time

import pytest
from mlflow import MlflowClient

from sparksweep.errors import RegistryError
from sparksweep.registry import lease_name, registry_lease

HOLDERS = 6
ROUNDS = 15


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


def test_many_holders_at_once_take_turns(tracking_uri: str) -> None:
    """A create that loses to a holder who releases at once must wait its turn, not fail (found in CI on a server).

    MLflow's SQL store answers a duplicate create by reading the existing model back; when the holder deletes it in
    between, the create raises RESOURCE_DOES_NOT_EXIST. Many short leases at once open that window often.
    """
    MlflowClient(tracking_uri, tracking_uri).search_registered_models()  # the store is created once
    held: list[int] = []
    inside = threading.Lock()
    errors: list[BaseException] = []

    def holder(i: int) -> None:
        client = MlflowClient(tracking_uri, tracking_uri)
        try:
            for _ in range(ROUNDS):
                with registry_lease(client, "m", wait=120):
                    if not inside.acquire(blocking=False):
                        raise AssertionError("two holders inside the lease at once")
                    held.append(i)
                    inside.release()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=holder, args=(i,)) for i in range(HOLDERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(held) == HOLDERS * ROUNDS
    assert [m.name for m in MlflowClient(tracking_uri, tracking_uri).search_registered_models()] == []
