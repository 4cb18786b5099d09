"""Errors of the load-test harness: one hierarchy; each message carries the end of the log of
the process that failed."""


class HarnessError(Exception):
    """A child process of the benchmark or of a fault test did not start or misbehaved, or a
    phase did not finish in time."""
