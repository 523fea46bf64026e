"""Alembic migrations of the run catalog (see :mod:`procedures.framework.catalog_schema`)."""
