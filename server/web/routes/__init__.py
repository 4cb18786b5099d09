"""The page routers, one module per group of pages, and what they share."""


def blank(value: str | None) -> str | None:
    """A query or form value as asked: stripped, and None when nothing is left."""
    return value.strip() or None if value is not None else None
