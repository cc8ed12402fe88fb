"""Helpers shared by the tests, all importable from ``tests.helpers``:

- factories: settings, rows and request bodies, the database backends (``factories``);
- the throwaway PostgreSQL cluster or an external database (``postgres``);
- servers: uvicorn in a thread and the real ``backprop serve``, ``free_port``,
  ``wait_for`` (``servers``);
- the job ``Driver`` that plays the worker step by step (``driver``);
- the crash harness: the API and real worker processes on one database (``crash``).

Fixtures live in ``tests/conftest.py``.
"""

from tests.helpers.crash import Deployment, deployment, sqlite_timeout
from tests.helpers.driver import Driver, make_dataset, make_job, metric_row
from tests.helpers.factories import (
    ADMIN_API_KEY,
    API_KEY,
    BACKENDS,
    OTHER_API_KEY,
    XOR_INPUTS,
    XOR_TARGETS,
    add_dataset,
    counts,
    fresh_database,
    make_settings,
    network_spec,
    npy,
    submit_job,
    training_config,
    xor_dataset,
)
from tests.helpers.postgres import Cluster, External, drop_schema, missing_reason, new_schema
from tests.helpers.servers import (
    BACKPROP,
    MAX_BODY,
    POLL,
    ROOT,
    Server,
    ThreadServer,
    backprop_env,
    free_port,
    start_server,
    wait_for,
)
from tests.helpers.volumes import fill, mount_reason, small_volume

__all__ = [
    "fill",
    "mount_reason",
    "small_volume",
    "ADMIN_API_KEY",
    "API_KEY",
    "BACKENDS",
    "BACKPROP",
    "MAX_BODY",
    "OTHER_API_KEY",
    "POLL",
    "ROOT",
    "XOR_INPUTS",
    "XOR_TARGETS",
    "Cluster",
    "Deployment",
    "Driver",
    "External",
    "Server",
    "ThreadServer",
    "add_dataset",
    "backprop_env",
    "counts",
    "deployment",
    "drop_schema",
    "fresh_database",
    "free_port",
    "make_dataset",
    "make_job",
    "make_settings",
    "metric_row",
    "missing_reason",
    "network_spec",
    "new_schema",
    "npy",
    "submit_job",
    "sqlite_timeout",
    "start_server",
    "training_config",
    "wait_for",
    "xor_dataset",
]
