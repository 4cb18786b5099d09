"""Search over the repository's results: Vietnamese folding, the query and its cursor, and the
index that answers it (`SearchIndex`, an embedded Tantivy index derived from the database)."""
