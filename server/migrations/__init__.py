"""Alembic migrations of the repository, shipped in the package; `server.db.migrate` runs them."""
