"""The provincial server: FastAPI app, repository models and migrations, ingest workers,
verification, merge and search. Never imports `edge`."""
