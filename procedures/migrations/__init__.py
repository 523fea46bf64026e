"""Alembic migrations of the run catalog (see :mod:`procedures.catalog_schema`)."""
