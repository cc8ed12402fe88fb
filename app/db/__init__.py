"""Database layer: SQLAlchemy 2.0 models, engine/session factory, Alembic migrations."""

from app.db.models import Base, Dataset, Job, JobStatus, Metric
from app.db.session import make_engine, make_sessionmaker

__all__ = ["Base", "Dataset", "Job", "JobStatus", "Metric", "make_engine", "make_sessionmaker"]
