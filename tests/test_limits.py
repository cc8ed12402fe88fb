"""app.limits: each limit refuses just past its value, with a detail naming it."""

from __future__ import annotations

import json

import pytest

from app.api.errors import limit_exceeded_response
from app.limits import LimitExceeded, Limits, QueueFull, network_parameters

SMALL = Limits(
    max_dataset_values=1000, max_network_parameters=100, max_epochs=50, max_queued_jobs=3
)


def test_network_parameters_counts_weights_and_biases() -> None:
    assert network_parameters([2, 8, 1]) == 2 * 8 + 8 + 8 * 1 + 1
    assert network_parameters([784, 100, 10]) == 79_510


def test_dataset_at_the_limit_passes_and_one_row_more_is_refused() -> None:
    SMALL.check_dataset(500, 2)
    with pytest.raises(LimitExceeded) as caught:
        SMALL.check_dataset(501, 2)
    assert caught.value.detail == (
        "dataset: 501 rows x 2 features = 1,002 values; the limit is 1,000 "
        "(BACKPROP_MAX_DATASET_VALUES)"
    )
    assert not isinstance(caught.value, QueueFull)  # 422, not 429
    assert caught.value.limit == "max_dataset_values"
    assert (caught.value.value, caught.value.maximum) == (1002, 1000)


def test_network_too_large_names_sizes_and_count() -> None:
    SMALL.check_network([2, 8, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1])
    with pytest.raises(LimitExceeded) as caught:
        SMALL.check_network([2, 30, 1])
    assert caught.value.detail == (
        "network.sizes: [2, 30, 1] has 121 parameters; the limit is 100 "
        "(BACKPROP_MAX_NETWORK_PARAMETERS)"
    )


def test_epochs_over_the_limit() -> None:
    SMALL.check_epochs(50)
    with pytest.raises(LimitExceeded) as caught:
        SMALL.check_epochs(51)
    assert (
        caught.value.detail == "training.epochs: 51 epochs; the limit is 50 (BACKPROP_MAX_EPOCHS)"
    )


def test_full_queue_is_429_with_retry_after() -> None:
    SMALL.check_queue(2)
    with pytest.raises(QueueFull) as caught:
        SMALL.check_queue(3)
    assert caught.value.detail.startswith("the queue is full: 3 jobs are waiting; the limit is 3")
    response = limit_exceeded_response(caught.value)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "5"
    assert json.loads(response.body) == {"detail": caught.value.detail}


def test_check_job_reports_the_first_limit_hit() -> None:
    with pytest.raises(LimitExceeded) as caught:
        SMALL.check_job([2, 30, 1], epochs=10, queued=99)
    assert caught.value.limit == "max_network_parameters"
    SMALL.check_job([2, 8, 1], epochs=10, queued=0)


def test_snapshots_at_the_limits_pass_and_past_them_are_refused_with_a_fitting_interval() -> None:
    limits = Limits(max_snapshots=10, max_snapshot_values=250)
    sizes = [2, 8, 1]  # 33 parameters
    limits.check_snapshots(sizes, 1000, None)  # no snapshots: nothing to bound
    limits.check_snapshots(sizes, 70, 10)  # 7 snapshots x 33 = 231 values
    with pytest.raises(LimitExceeded) as caught:
        limits.check_snapshots(sizes, 100, 9)
    assert caught.value.detail == (
        "training.snapshot_every: 9 keeps 11 snapshots of 100 epochs; the limit is 10 "
        "(BACKPROP_MAX_SNAPSHOTS); use snapshot_every >= 10"
    )
    limits.check_snapshots([2, 1], 100, 10)  # 10 snapshots of 3 parameters
    with pytest.raises(LimitExceeded) as caught:
        limits.check_snapshots(sizes, 80, 10)  # 8 x 33 = 264 values
    assert caught.value.detail == (
        "training.snapshot_every: 8 snapshots x 33 parameters = 264 values; the limit is "
        "250 (BACKPROP_MAX_SNAPSHOT_VALUES); use snapshot_every >= 12"
    )
    assert caught.value.limit == "max_snapshot_values"
    limits.check_snapshots(sizes, 80, 12)  # the suggested interval fits: 6 x 33 = 198
