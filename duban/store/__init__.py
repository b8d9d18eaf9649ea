"""The store: SQLAlchemy models, engine and sessions, Alembic migrations applied on first use."""

from duban.store.db import Store, open_store, upgrade
from duban.store.models import Base

__all__ = ["Base", "Store", "open_store", "upgrade"]
