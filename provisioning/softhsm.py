"""SoftHSM2 token initialisation for the demo, the tests and machines without a hardware token.

SoftHSM2 is a software PKCS#11 module: it keeps its tokens in a directory named by a configuration
file, found through the `SOFTHSM2_CONF` environment variable. Rules of this module:

- Every setup is private: its own `softhsm2.conf` and token directory, never `/etc/softhsm`.
- SoftHSM reads `SOFTHSM2_CONF` when the library is initialised (`C_Initialize`), so the variable
  must be set (see `SoftHsmSetup.env`) before a process first opens the module;
  `edge.signing.token.Token` re-initialises the module when no session is open, to see tokens
  made since.
- Tokens are initialised with `softhsm2-util` (python-pkcs11 0.9 has no `C_InitToken`). Its PINs
  never go on its command line, which every local user can read (`ps`, `/proc/<pid>/cmdline`):
  the tool is asked for them as it asks a person, on a pseudo-terminal of its own (it reads PINs
  from a terminal only), with echo off; only this process holds the other end.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import termios
from dataclasses import dataclass
from pathlib import Path

from provisioning.errors import TokenInitError
from support.files import write_atomic

log = logging.getLogger(__name__)

SOFTHSM_MODULE_CANDIDATES = (
    Path("/usr/lib/softhsm/libsofthsm2.so"),
    Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
    Path("/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"),
    Path("/usr/lib/arm-linux-gnueabihf/softhsm/libsofthsm2.so"),
    Path("/usr/local/lib/softhsm/libsofthsm2.so"),
    Path("/usr/lib64/pkcs11/libsofthsm2.so"),
)
"""Where Debian (per architecture) and source builds put the SoftHSM2 PKCS#11 module."""

CONF_FILE = "softhsm2.conf"
TOKEN_DIR = "tokens"  # noqa: S105 - a directory name, not a secret
MAX_LABEL_CHARS = 32
"""PKCS#11 token labels are 32 bytes, blank-padded (CK_TOKEN_INFO.label)."""
MIN_PIN_CHARS = 4
"""SoftHSM2 refuses PINs shorter than this."""
MAX_PIN_CHARS = 255
"""...and longer than this."""
INIT_TIMEOUT_S = 30.0

_INSTALL_HINT = "install it with `apt-get install softhsm2`"


def find_softhsm_module() -> Path:
    """Find the SoftHSM2 PKCS#11 module (`libsofthsm2.so`) on this machine.

    Returns:
        The module's path.

    Raises:
        TokenInitError: SoftHSM2 is not installed.
    """
    for path in SOFTHSM_MODULE_CANDIDATES:
        if path.is_file():
            return path
    looked = ", ".join(str(p) for p in SOFTHSM_MODULE_CANDIDATES)
    raise TokenInitError(
        f"the SoftHSM2 PKCS#11 module is missing (looked in {looked}): {_INSTALL_HINT}"
    )


@dataclass(frozen=True)
class SoftHsmSetup:
    """A private SoftHSM2 configuration: where its config file and tokens live, and the module.

    Attributes:
        conf_path: the `softhsm2.conf` to put in `SOFTHSM2_CONF`.
        token_dir: the directory holding this setup's tokens.
        module_path: the SoftHSM2 PKCS#11 module to open with `edge.signing.token.Token.open`.
    """

    conf_path: Path
    token_dir: Path
    module_path: Path

    def env(self) -> dict[str, str]:
        """The environment variables that point SoftHSM2 (library and tools) at this setup."""
        return {"SOFTHSM2_CONF": str(self.conf_path)}


def write_softhsm_conf(directory: Path) -> SoftHsmSetup:
    """Write a private `softhsm2.conf` and an empty token directory into `directory`.

    Token objects are kept as files (`objectstore.backend = file`: no SQLite dependency, one file
    per object) and SoftHSM logs only errors, to syslog.

    Args:
        directory: where to put the config file and the `tokens/` directory; made if missing.

    Returns:
        The setup; set `setup.env()` in the environment before the module is first loaded.

    Raises:
        TokenInitError: SoftHSM2 is missing or the files cannot be written.
    """
    module = find_softhsm_module()
    directory = directory.resolve()
    token_dir = directory / TOKEN_DIR
    conf_path = directory / CONF_FILE
    try:
        token_dir.mkdir(parents=True, exist_ok=True)
        # The token files hold the (PIN-wrapped) keys: owner only.
        token_dir.chmod(0o700)
        conf = (
            "# Written by sohoa: a private SoftHSM2 token store.\n"
            f"directories.tokendir = {token_dir}\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = false\n"
        )
        write_atomic(conf_path, conf.encode(), mode=0o600)
    except OSError as e:
        raise TokenInitError(f"cannot write the SoftHSM2 configuration in {directory}: {e}") from e
    return SoftHsmSetup(conf_path=conf_path, token_dir=token_dir, module_path=module)


def init_token(setup: SoftHsmSetup, label: str, so_pin: str, user_pin: str) -> None:
    """Initialise a new token in the first free slot of `setup`, with its SO and user PINs.

    Args:
        setup: the SoftHSM2 configuration to use (passed to `softhsm2-util` as `SOFTHSM2_CONF`).
        label: the new token's label (at most 32 characters; unique within the setup).
        so_pin: the security officer's PIN (at least 4 characters).
        user_pin: the user's PIN, which opens the token for signing (at least 4 characters).

    Raises:
        TokenInitError: bad label or PIN, `softhsm2-util` missing, or the initialisation failed.
    """
    if not label or len(label.encode()) > MAX_LABEL_CHARS:
        raise TokenInitError(
            f"token label {label!r} must be 1 to {MAX_LABEL_CHARS} bytes long: choose a shorter one"
        )
    for name, pin in (("SO PIN", so_pin), ("user PIN", user_pin)):
        # Out of bounds, softhsm2-util would ask again and again until the timeout.
        if not MIN_PIN_CHARS <= len(pin.encode()) <= MAX_PIN_CHARS:
            raise TokenInitError(
                f"the {name} must be at least {MIN_PIN_CHARS} characters long and at most "
                f"{MAX_PIN_CHARS}"
            )
        if any(ord(c) < 32 or c == "\x7f" for c in pin):  # a terminal would act on them
            raise TokenInitError(f"the {name} holds a control character: choose another")
    tool = shutil.which("softhsm2-util")
    if tool is None:
        raise TokenInitError(f"softhsm2-util is not on PATH: {_INSTALL_HINT}")
    # The answers to its four prompts: SO PIN twice, user PIN twice.
    answers = f"{so_pin}\n{so_pin}\n{user_pin}\n{user_pin}\n".encode()
    try:
        done = _run_with_terminal(
            [tool, "--init-token", "--free", "--label", label],
            answers,
            env={**os.environ, **setup.env()},
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise TokenInitError(f"softhsm2-util could not run: {e}") from e
    if done.returncode != 0:
        # softhsm2-util's messages name no secret (it never echoes the PINs it reads).
        message = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
        raise TokenInitError(
            f"softhsm2-util could not initialise token {label!r} in {setup.token_dir}: {message}"
        )
    log.info("initialised SoftHSM2 token %r in %s", label, setup.token_dir)


def _run_with_terminal(
    command: list[str], answers: bytes, *, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run `command` with a fresh pseudo-terminal as its standard input, `answers` typed into it
    (echo off), and its output captured.

    Raises:
        OSError: no pseudo-terminal, or the command cannot start.
        subprocess.TimeoutExpired: it did not finish within `INIT_TIMEOUT_S` (it is killed).
    """
    controller, terminal = os.openpty()
    try:
        attributes = termios.tcgetattr(terminal)
        attributes[3] &= ~(termios.ECHO | termios.ECHONL)  # lflag: never echo what is typed
        termios.tcsetattr(terminal, termios.TCSANOW, attributes)
        proc = subprocess.Popen(
            command,
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
    except BaseException:
        os.close(controller)
        os.close(terminal)
        raise
    os.close(terminal)  # the child holds it now
    try:
        os.write(controller, answers)
        try:
            out, err = proc.communicate(timeout=INIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    finally:
        os.close(controller)
    return subprocess.CompletedProcess(command, proc.returncode, out, err)
