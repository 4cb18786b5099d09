"""Context-manager mixins, so that every adapter owning a resource reads the same way.

- `Closeable`: `with engine:` ... closes it at the end (OCR engines, tokens, the outbox, scanners).
- `Service`: `with broker:` starts it and stops it at the end (child processes, workers).
"""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closeable:
    """A resource that `close()` frees; `with obj:` closes it however the block ends."""

    def close(self) -> None:
        """Free the resource; subclasses say what that means."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Service:
    """Something that runs between `start()` and `stop()`; `with svc:` does both."""

    def start(self) -> None:
        """Start running; subclasses say what that means."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop running; safe to call twice."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
