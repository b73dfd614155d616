"""Alembic migrations of the botwatch store (run by ``botwatch.store.migrate``)."""
