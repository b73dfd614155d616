"""Alembic revisions; a package so the files ship with botwatch."""
