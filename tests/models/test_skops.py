"""sparksweep's skops writer produces the archive skops.io.dump produces (bar the schema's whitespace), and skops
reads it back to the same model."""

from __future__ import annotations

import json
from pathlib import Path
from zipfile import ZipFile

import numpy as np
import skops.io as sio
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

from sparksweep.models import _skops


def test_the_compact_archive_is_skops_own_and_loads_to_the_same_model(tmp_path: Path) -> None:
    X, y = make_classification(200, n_features=6, random_state=0)
    model = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0).fit(X, y)
    ours, theirs = tmp_path / "ours.skops", tmp_path / "theirs.skops"
    _skops.dump(model, ours)
    sio.dump(model, theirs)

    # The arrays are the same (skops names their files after object ids, which differ between dumps), and the
    # schema says the same things, compactly.
    with ZipFile(ours) as a, ZipFile(theirs) as b:
        arrays = [sorted(z.read(n) for n in z.namelist() if n != "schema.json") for z in (a, b)]
        assert arrays[0] == arrays[1]
        schema, their_schema = a.read("schema.json"), b.read("schema.json")
        assert b"\n" not in schema, "written compact"
        assert len(schema) < len(their_schema)
        mine, other = json.loads(schema), json.loads(their_schema)
        assert {k: v for k, v in mine.items() if k != "content"} == {k: v for k, v in other.items() if k != "content"}

    assert sio.get_untrusted_types(file=ours) == sio.get_untrusted_types(file=theirs)
    loaded = sio.load(ours, trusted=sio.get_untrusted_types(file=ours))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
