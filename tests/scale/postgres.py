"""Kept for benchmarks/scale.py, which imports the cluster from here: the throwaway
PostgreSQL cluster lives in tests/helpers/postgres.py. Delete this file (and the folder)
once that script imports from ``tests.helpers``."""

from tests.helpers.postgres import Cluster, drop_schema, missing_reason, new_schema

__all__ = ["Cluster", "drop_schema", "missing_reason", "new_schema"]
