"""Verification from several threads of a fresh process, as ingest workers verify: a valid
result is valid whatever the other threads do.

pyHanko's ASN.1 layer (asn1crypto) sets up each class's field tables in place on its first use
in a process and parses shared objects lazily, in place; two threads doing either at once can
raise IndexError or KeyError inside pyHanko. The sync benchmark once had a valid result rejected
(10,000 results into 2 server processes x 2 workers): this is that race, made likely by starting
every thread at the same instant in a process that has verified nothing yet, with a tiny thread
switch interval.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from provisioning.ca import publish_crl
from tests.fixtures.token import SignedSample

THREADS = 8
PROCESSES = 6
"""Fresh processes tried (the race is in each process's first verifications)."""

_CHILD = """
import json, sys, threading
from pathlib import Path
from cryptography import x509
from server.verify import Verifier

ca_file, crl_file, pdf_file, device_id, count = sys.argv[1:6]
verifier = Verifier(
    [x509.load_pem_x509_certificate(Path(ca_file).read_bytes())], crl_path=Path(crl_file)
)
pdf = Path(pdf_file).read_bytes()
barrier = threading.Barrier(int(count))
verdicts = []

def verify():
    barrier.wait()
    verdict = verifier.verify(pdf, device_id=device_id)
    verdicts.append("valid" if verdict.valid else f"{verdict.reason}: {verdict.detail}")

sys.setswitchinterval(1e-6)  # switch threads as often as possible: the race, at its likeliest
threads = [threading.Thread(target=verify) for _ in range(int(count))]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(verdicts))
"""


@pytest.mark.slow
def test_a_valid_result_verified_by_many_threads_at_once_is_valid_in_each(
    signed_sample: SignedSample, tmp_path: Path
) -> None:
    ca_file = signed_sample.ca.save(tmp_path / "ca")
    crl_file = publish_crl(ca_file.parent, tmp_path / "crl.pem")
    pdf_file = tmp_path / "signed.pdf"
    pdf_file.write_bytes(signed_sample.signed)
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    refused: list[str] = []
    for _ in range(PROCESSES):
        argv = [sys.executable, "-c", _CHILD, str(ca_file), str(crl_file), str(pdf_file)]
        argv += [signed_sample.device_id, str(THREADS)]
        done = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
        verdicts = json.loads(done.stdout.splitlines()[-1])
        assert len(verdicts) == THREADS
        refused += [v for v in verdicts if v != "valid"]
    assert refused == [], f"{len(refused)} of {THREADS * PROCESSES} verdicts refused a valid result"
