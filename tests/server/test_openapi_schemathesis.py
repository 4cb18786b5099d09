"""The API's OpenAPI description is complete and true: schemathesis generates requests for every
route from the description (valid ones, and invalid ones that must be refused with a 4xx), sends
them to the live app signed in, and checks that no answer is a server error and that each
answer's status, media type and body are ones the description states for that route.

Runs as a province admin (every route) and as a unit officer (refusals), on a seeded
repository: records with their PDFs, a device, units. Nothing described is excluded: the sign-in
route and device commands (a revocation too) are hit like the rest, in this test's throwaway
database. Not described, so not fuzzed: `/openapi.json`, `/docs` and `/redoc`, the description
and its readers themselves (`server.api.routes.docs`, covered by the route walks of
`test_auth`). Schemathesis replaces control characters in paths and seldom draws a NUL, which
PostgreSQL refuses in a value: `_control_characters` sends one in every text parameter.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from protocol.messages import sha256_hex
from provisioning.ca import CertificateAuthority, Profile, new_key, write_certificate
from server.api.main import create_app
from server.blobs import BlobStore
from server.config import ServerSettings
from server.db import session_scope
from server.models import Role
from server.repository import devices, records
from tests.server.signin import bearer, sign_in
from tests.server.test_api import Verdict

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 6}
"""Examples per route and mode: 17 routes, so some 300 requests per role."""
SIGN_IN_EXAMPLES = 4
"""The sign-in hashes every password it is sent (argon2, as the server does): fewer there."""
DEVICE, UNIT = "fuzz-01.kiosk", "22516"


@pytest.fixture
def settings_(db_url: str, tmp_path: Path) -> ServerSettings:
    # A CA and an HTTPS certificate: the enrollment routes answer as on a real server.
    ca = CertificateAuthority.create("Fuzz CA")
    ca.save(tmp_path / "ca")
    key = new_key()
    https = ca.issue(key.public_key(), "127.0.0.1", Profile.TLS_SERVER, ip_addresses=["127.0.0.1"])
    write_certificate(https, tmp_path / "https.pem")
    return ServerSettings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        ca_dir=tmp_path / "ca",
        enroll_server_cert_file=tmp_path / "https.pem",
    )


@pytest.fixture
def app(settings_: ServerSettings, db_engine: Engine, khanh_hoa_units: None) -> FastAPI:
    return create_app(settings_, db_engine)


def _seed(settings: ServerSettings, engine: Engine) -> list[str]:
    """A device of unit 22516 and three records it sent, their PDFs in the blob store."""
    ids = []
    with session_scope(engine) as s:
        devices.register_device(
            s, DEVICE, "Tổ một cửa", sha256_hex(DEVICE.encode()), unit_code=UNIT
        )
        for i, (name, cccd) in enumerate(
            [
                ("Nguyễn Thị Hương", "056202375441"),
                ("Hoàng Văn Đức", "056095001234"),
                ("Y Ngông Niê Kdăm", "066301004321"),
            ]
        ):
            pdf = f"%PDF-1.7 fuzz {i}".encode()
            ids.append(
                records.merge_result(
                    s,
                    result_id=sha256_hex(pdf),
                    device_id=DEVICE,
                    fields={
                        "ho_ten": name,
                        "cccd": cccd,
                        "ngay_sinh": "2002-10-04",
                        "so_ky_hieu": f"{i + 1}/QĐ-UBND",
                        "ngay_ban_hanh": str(dt.date(2026, 3, i + 1)),
                    },
                    verdict=Verdict(),
                    pdf_path=BlobStore(settings.data_dir).put(pdf),
                    pdf_size=len(pdf),
                ).record_id
            )
    return ids


def _operations(schema: Any) -> list[Any]:
    """The description's operations; one schemathesis cannot read fails the test."""
    found = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"schemathesis cannot read an operation: {result}"
        found.append(result.ok())
    return found


def _fuzz(app: FastAPI, token: str, known: dict[str, list[str]]) -> list[str]:
    """Every route of the description, fuzzed with `token`; the failures found, one line each.

    Args:
        known: for a path parameter, real values to use in about half of the examples (so
            that the answers of found things are checked too, not only 404s).
    """
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=bearer(token))
    failures: list[str] = []
    operations = _operations(schema)
    described = sum(len(methods) for methods in app.openapi()["paths"].values())
    assert len(operations) == described >= 17, "schemathesis did not load every route"
    for operation in operations:
        for mode, examples in EXAMPLES.items():
            if operation.path == "/api/auth/token":
                examples = min(examples, SIGN_IN_EXAMPLES)
            try:
                _fuzz_operation(operation, mode, examples, token, known, failures)
            except Unsatisfiable:
                # No parameter nor body to make invalid (/healthz, /api/auth/me, ...): the
                # route has no negative case, not an untested one (its positive run passed).
                assert mode is GenerationMode.NEGATIVE, operation.label
    return failures


def _fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    examples: int,
    token: str,
    known: dict[str, list[str]],
    failures: list[str],
) -> None:
    """`examples` requests of `mode` to `operation`; each failure appended to `failures`."""
    names = [p.name for p in operation.path_parameters]
    swaps = st.fixed_dictionaries({n: st.sampled_from([None, *known.get(n, [])]) for n in names})

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), swap=swaps)
    def run(case: Any, swap: dict[str, str | None]) -> None:
        for name, value in swap.items():
            if value is not None and mode is GenerationMode.POSITIVE:
                case.path_parameters[name] = value
        try:
            case.call_and_validate(headers=bearer(token), checks=CHECKS)
        # Collected, so that one run reports every route's failures: the checks' (a group)
        # and an error the app raised (the test transport re-raises it).
        except (FailureGroup, Exception) as e:
            failures.append(f"{operation.label} [{mode.value}]: {_first_line(e)}")

    run()


BODIES: dict[str, tuple[str, dict[str, str]]] = {
    "/api/auth/token": (
        "application/x-www-form-urlencoded",
        {"username": "admin", "password": "wrong"},
    ),
    "/api/devices/{device_id}/commands": ("application/json", {"name": "ping"}),
    "/api/results/{record_id}/reuse": (
        "application/json",
        {"dossier_code": "000.00.15.H41-251206-0001"},
    ),
}
"""A valid body for each route that takes one, for the control-character walk."""
CONTROL = "a\x00b\x1fc"


def _control_characters(app: FastAPI, token: str, known: dict[str, list[str]]) -> list[str]:
    """Every text parameter of every route (and the sign-in's username) sent with a NUL and a
    control character, the rest valid: the answers checked as the fuzzing checks them.
    (Schemathesis replaces control characters in paths and seldom draws NUL elsewhere, and
    PostgreSQL fails on a NUL in a query's value: this walk makes sure of each one.)"""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=bearer(token))
    failures: list[str] = []
    for operation in _operations(schema):
        valid = {p.name: known.get(p.name, ["x"])[0] for p in operation.path_parameters}
        media_type, body = BODIES.get(operation.path, (None, None))
        texts = [
            ("path", p.name)
            for p in operation.path_parameters
            if "string" in json.dumps(p.definition.get("schema", {}))
        ] + [
            ("query", p.name)
            for p in operation.query
            if "string" in json.dumps(p.definition.get("schema", {}))
        ]
        if operation.path == "/api/auth/token":
            texts.append(("body", "username"))
        for location, name in texts:
            sent: dict[str, Any] = {}
            if body is not None:
                sent["media_type"] = media_type
                sent["body"] = {**body, name: CONTROL} if location == "body" else body
            case = operation.Case(
                path_parameters={**valid, name: CONTROL} if location == "path" else valid,
                query={name: CONTROL} if location == "query" else None,
                **sent,
            )
            try:
                response = case.call_and_validate(headers=bearer(token), checks=CHECKS)
            except (FailureGroup, Exception) as e:
                failures.append(f"{operation.label} {location} {name}: {_first_line(e)}")
                continue
            if response.status_code >= 500 or response.status_code < 400:
                failures.append(f"{operation.label} {location} {name}: {response.status_code}")
    return failures


def _first_line(error: BaseException) -> str:
    if isinstance(error, FailureGroup):
        text = "; ".join(f"{f.title}: {f.message}" for f in error.exceptions)
    else:
        text = f"{type(error).__name__}: {error}"
    return " ".join(text.split())[:1500]


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def test_the_description_is_true_for_a_province_admin(
    app: FastAPI, client: TestClient, settings_: ServerSettings, db_engine: Engine
) -> None:
    ids = _seed(settings_, db_engine)
    token = sign_in(client, db_engine, Role.PROVINCE_ADMIN, name="admin")
    known = {
        "record_id": ids,
        "device_id": [DEVICE],
        "cccd": ["056202375441"],
    }
    failures = _fuzz(app, token, known) + _control_characters(app, token, known)
    assert failures == [], "\n".join(failures)


def test_the_description_is_true_for_a_unit_officer(
    app: FastAPI, client: TestClient, settings_: ServerSettings, db_engine: Engine
) -> None:
    ids = _seed(settings_, db_engine)
    token = sign_in(client, db_engine, Role.UNIT_OFFICER, unit=UNIT, name="officer")
    failures = _fuzz(app, token, {"record_id": ids, "device_id": [DEVICE]})
    assert failures == [], "\n".join(failures)


def test_every_route_states_its_security_and_errors(tmp_path: Path) -> None:
    """Without a database: each route behind a token declares the bearer scheme and its 401
    and 403; every error answer has a body model, `ErrorDetail` or FastAPI's 422."""
    schema = create_app(ServerSettings(data_dir=tmp_path / "data")).openapi()
    (scheme,) = schema["components"]["securitySchemes"].values()
    assert scheme["type"] == "oauth2" and scheme["flows"]["password"]["tokenUrl"]
    open_routes = {
        ("post", "/api/auth/token"),
        ("post", "/api/enroll"),
        ("post", "/api/renew"),
        ("get", "/healthz"),
    }
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            answers = operation["responses"]
            if (method, path) not in open_routes:
                assert operation.get("security") == [{"OAuth2PasswordBearer": []}], where
                assert {"401", "403"} <= set(answers) or (
                    path == "/api/auth/me" and "401" in answers
                ), where
            for code, answer in answers.items():
                if code.startswith("2"):
                    assert answer.get("content"), f"{where} {code}: no media type"
                    continue
                (media,) = answer["content"].items()
                expected = "HTTPValidationError" if code == "422" else "ErrorDetail"
                assert media == (
                    "application/json",
                    {"schema": {"$ref": f"#/components/schemas/{expected}"}},
                ), f"{where} {code}"
