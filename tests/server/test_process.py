"""`server.process.ServerProcess`: the server as a child process names itself and its log when it
cannot start (the demo and the harness start it; their own tests run it whole)."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.errors import ServerError
from server.process import ServerProcess


def test_a_server_that_cannot_start_raises_with_the_end_of_its_log(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text('no_such_setting = "x"\n')
    server = ServerProcess(config, tmp_path / "server.log", api_port=1)
    with pytest.raises(ServerError, match=r"sohoa server run exited with status [1-9]") as e:
        server.start(timeout=60)
    assert "no_such_setting" in str(e.value)


def test_roles() -> None:
    with pytest.raises(ValueError, match="role"):
        ServerProcess(Path("s.toml"), Path("s.log"), role="serve", api_port=1)
    with pytest.raises(ValueError, match="api_port"):
        ServerProcess(Path("s.toml"), Path("s.log"), role="run")
    ingest = ServerProcess(Path("s.toml"), Path("s.log"), role="ingest", workers=2)
    assert ingest.argv[-4:] == ["server", "ingest", "--config", "s.toml"]
