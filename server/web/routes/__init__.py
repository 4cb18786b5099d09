"""The page routers, one module per group of pages."""
