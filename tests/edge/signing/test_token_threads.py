"""Two tokens of one PKCS#11 module used from two threads of one process, as the kiosk does
(signing on one thread, the outbox's sealing key and the heartbeat's token probe on others).
python-pkcs11 initialises modules without locking callbacks, so the module may assume one
caller at a time; `edge.signing.token` serialises every call into a module. Found by
`bench.fleet`: without it, key generation on one token while another was closed or a key
destroyed crashed the process (segmentation fault). Run in a child process: a crash fails the
test instead of killing the pytest worker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from provisioning.softhsm import SoftHsmSetup
from tests.fixtures.token import new_blank_token

CHILD = """
import sys, threading, time
from pathlib import Path
from edge.signing.token import Token, token_present

module, first, second, pin = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
stop = time.monotonic() + 3.0
errors = []

def churn(label, offset):
    try:
        n = 0
        while time.monotonic() < stop:
            with Token.open(module, label=label, pin=pin) as token:
                key_id = bytes([offset, n % 250])
                token.generate_signing_key(key_id, label="stress")
                token.sign(key_id, b"x" * 64)
                token.destroy_key(key_id)
            n += 1
    except Exception as e:
        errors.append(repr(e))

def probe():
    while time.monotonic() < stop:
        token_present(module, label=first)

threads = [threading.Thread(target=churn, args=(first, 1)),
           threading.Thread(target=churn, args=(second, 2)),
           threading.Thread(target=probe)]
for t in threads: t.start()
for t in threads: t.join()
print("errors:", errors)
sys.exit(1 if errors else 0)
"""


def test_two_tokens_of_one_module_in_two_threads_do_not_crash_the_process(
    softhsm: SoftHsmSetup, tmp_path: Path
) -> None:
    first, second = new_blank_token(softhsm), new_blank_token(softhsm)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(softhsm.module_path), first.label, second.label,
         first.user_pin],
        env={**softhsm.env(), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path.cwd())},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
