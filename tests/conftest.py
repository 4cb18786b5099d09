"""The real-service fixtures (broker, token, postgres, scanner, TSA) for the whole suite."""

pytest_plugins = [
    "tests.fixtures.broker",
    "tests.fixtures.token",
    "tests.fixtures.postgres",
    "tests.fixtures.scanner",
    "tests.fixtures.tsa",
]
