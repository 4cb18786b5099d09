"""`tests.logcheck`, the check `make test` runs on the whole run's log: it finds a citizen's name
(with or without its marks, a test's or one the generators make) and an ID number, and lets
record ids, UUIDs, unit names and the tests' own HTTP client through."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.logcheck import CORPUS, collect, leaks, main

_ALL_DIGITS = "530996" + "014408"
"""A result id's prefix that happens to be all digits (in two pieces: a 12-digit string in the
tests' sources is taken for a test's ID number)."""

CLEAN = [
    "INFO     server.repository.records:records.py:153 result 095e4fbf350042a80655dc4980387cf08"
    "88d01dfd4ddc6209261a76ac77f3ef2 of device dev-01 stored as record 2b396d39-0e6c-467f-83d8-"
    "573770936688",
    "INFO     server.repository.units:units.py:143 units imported: 291 added (UBND xã Vạn Thắng, "
    "phường Ninh Hòa, xã Vạn Bình)",
    "WARNING  server.ingest:ingest.py:592 rejected result 14c0 from device test-ingest-01: "
    "device_mismatch (the message names device someone-else)",
    "INFO     httpx:_client.py:1025 HTTP Request: GET http://testserver/api/citizens/056202375441"
    '/results "HTTP/1.1 200 OK"',
    "INFO     httpx:_client.py:1025 HTTP Request: GET https://testserver/search?q=056202375441"
    ' "HTTP/1.1 200 OK"',
    "INFO     server.api:audit.py:1 record 00000000-0000-0000-0000-000000000000 read by admin",
    f"INFO     edge.sync.agent:agent.py:523 result {_ALL_DIGITS}…: accepted (acked)",
]
LEAKS = {
    "a test's name, marks dropped": "INFO server.ingest: merged result for nguyen THI huong",
    "a test's name": "DEBUG server.search: query 'Nguyễn Thị Hương' took 3 ms",
    "a name the seed makes": "INFO server.seed: person Phạm Văn Hùng added",
    "an Êđê name the seed makes": "INFO server.seed: person H'Blang Niê added",
    "a lone 12-digit number": "WARNING server.ingest: field cccd=058123456789 refused",
    "a test's ID glued to a word": "WARNING server.ingest: cccd056202375441 refused",
}


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("logcheck") / "run.log"
    path.write_text("\n".join([*CLEAN, *LEAKS.values()]) + "\n", encoding="utf-8")
    return path


def test_names_and_ids_are_found_and_the_rest_let_through(log: Path) -> None:
    citizens, _ = collect()
    found = {line: what for _, line, what in leaks(log, citizens)}
    assert set(found) == set(LEAKS.values()), found
    assert "name 'nguyen thi huong'" in found[LEAKS["a test's name, marks dropped"]]
    assert "ID number 058123456789" in found[LEAKS["a lone 12-digit number"]]


def test_the_corpus_names_are_known_when_it_is_there() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"no development corpus at {CORPUS}")
    citizens, sidecars = collect()
    assert sidecars > 0 and ("ho", "ngoc", "trung") in citizens.names
    assert "056041445449" in citizens.ids


def test_the_command_fails_on_a_leak_and_passes_a_clean_log(
    log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(log)]) == 1
    said = capsys.readouterr().err
    assert f"6 lines of {log} carry a citizen's name or ID number" in said
    clean = tmp_path / "clean.log"
    clean.write_text("\n".join(CLEAN) + "\n", encoding="utf-8")
    assert main([str(clean)]) == 0
    assert main([str(tmp_path / "none.log")]) == 1
    assert "no log at" in capsys.readouterr().err
