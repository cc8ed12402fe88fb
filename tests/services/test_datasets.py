"""app.services.datasets: creating, finding and deleting datasets, with a session."""

from __future__ import annotations

import io

import numpy as np
import pytest
from sqlalchemy.orm import Session

from app import jobqueue
from app.datasets import DatasetError, dataset_sha256
from app.db.models import Dataset
from app.errors import Conflict, LimitExceeded, NotFound
from app.limits import Limits
from app.schemas.datasets import DatasetCreate, DatasetGenerate
from app.services import datasets
from tests.helpers import counts, network_spec, training_config

LIMITS = Limits()


def test_create_from_labels_one_hot_encodes_and_stores(session: Session) -> None:
    request = DatasetCreate(
        name="xor", inputs=[[0, 0], [0, 1], [1, 0], [1, 1]], labels=[0, 1, 1, 0]
    )
    row = datasets.create(session, LIMITS, request)
    assert (row.n_samples, row.n_features, row.n_outputs, row.task) == (
        4,
        2,
        2,
        "classification",
    )
    found = datasets.arrays(session, row.id)
    np.testing.assert_array_equal(found.targets, [[1, 0], [0, 1], [0, 1], [1, 0]])


def test_the_size_cap_refuses_and_stores_nothing(session: Session) -> None:
    small = Limits(max_dataset_values=7)
    request = DatasetGenerate(kind="xor", n_samples=4)
    datasets.generated(session, Limits(max_dataset_values=8), request)  # 4 x 2 = 8: fits
    before = counts(session)
    with pytest.raises(LimitExceeded) as caught:
        datasets.generated(session, small, request)
    assert caught.value.limit == "max_dataset_values"
    assert counts(session) == before


def test_an_npz_upload_over_the_cap_is_refused_from_its_headers(session: Session) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, inputs=np.zeros((1000, 50)), labels=np.arange(1000) % 2)
    buffer.seek(0)
    with pytest.raises(DatasetError) as caught:
        datasets.upload(
            session,
            Limits(max_dataset_values=1000),
            buffer,
            "big.npz",
            name=None,
            target=None,
            task="auto",
        )
    assert "over the limit of 1,000 values" in str(caught.value)
    assert counts(session)["datasets"] == 0


def test_a_float32_upload_is_stored_in_half_the_bytes_and_reads_back_as_float64(
    session: Session,
) -> None:
    pixels = np.random.default_rng(0).random((300, 40)).astype(np.float32)
    buffer = io.BytesIO()
    np.savez(buffer, inputs=pixels, labels=np.arange(300) % 3)
    buffer.seek(0)
    row = datasets.upload(session, LIMITS, buffer, "x.npz", name=None, target=None, task="auto")
    stored = session.get(Dataset, row.id)
    assert stored is not None
    assert len(stored.inputs) < 300 * 40 * 4 + 200  # float32, not 8 bytes a value
    found = datasets.arrays(session, row.id)
    assert found.inputs.dtype == np.float64
    assert found.inputs.tobytes() == pixels.astype(np.float64).tobytes()
    # The digest is of the float64 values: the same as before narrow storage existed.
    assert row.sha256 == dataset_sha256(pixels.astype(np.float64), found.targets)


def test_find_by_name_takes_the_newest(session: Session) -> None:
    first = datasets.generated(session, LIMITS, DatasetGenerate(kind="xor", name="same"))
    second = datasets.generated(session, LIMITS, DatasetGenerate(kind="moons", name="same"))
    assert datasets.find_by_name(session, "same").id == second.id != first.id
    with pytest.raises(NotFound):
        datasets.find_by_name(session, "missing")


def test_a_dataset_in_use_cannot_be_deleted(session: Session) -> None:
    row = datasets.generated(session, LIMITS, DatasetGenerate(kind="xor"))
    job = jobqueue.submit(
        session,
        dataset=row,
        network=network_spec(),
        training=training_config(),
        initial_weights=None,
        max_attempts=3,
    )
    with pytest.raises(Conflict):
        datasets.remove(session, row.id)
    jobqueue.request_cancel(session, job.id)
    datasets.remove(session, row.id)
    with pytest.raises(NotFound):
        datasets.get(session, row.id)
