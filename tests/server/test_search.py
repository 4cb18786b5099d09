"""Search and reuse through the HTTP API on SQLite and PostgreSQL: accent-insensitive matching
(đ included), the ranking of marks as typed, filters, keyset pages that neither repeat nor skip
while results arrive, unit officers kept to their units, and every kind of bad input refused
with a 4xx and a reason."""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from protocol.messages import sha256_hex
from server.api.main import create_app
from server.catalogue_files import read_units
from server.config import ServerSettings
from server.db import session_scope
from server.models import Record, Role
from server.repository import devices, units
from server.search.fold import fold, tone_form, words
from server.search.index import folding_analyzer
from tests.server.peers import api_settings_for
from tests.server.signin import add_account, bearer, sign_in, token_for

DEVICE = "search-01.kiosk"
UNITS_CSV = Path(__file__).parents[2] / "server" / "data" / "units_khanh_hoa.csv"
NHA_TRANG_CITY = "568"
"""A district-level city until 2025-06-30; its communes are its subtree."""
_clock = iter(range(1_000_000))
TONES = ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323")


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> ServerSettings:
    return api_settings_for(db_url, tmp_path / "data", search_refresh_s=0.001)


@pytest.fixture
def repo(db_engine: Engine) -> Engine:
    with session_scope(db_engine) as s:
        units.import_units(s, read_units(UNITS_CSV))
        devices.register_device(s, DEVICE, "UBND tỉnh Khánh Hòa", sha256_hex(b"cert"))
    return db_engine


@pytest.fixture
def client(settings: ServerSettings, repo: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, repo)) as c:
        sign_in(c, repo)
        yield c


def add(engine: Engine, **fields: Any) -> str:
    """Store a record directly (as `sohoa server seed` does), received one second after the
    previous one."""
    received = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=next(_clock))
    valid = fields.pop("signature_valid", True)
    with session_scope(engine) as s:
        record = Record(
            result_id=sha256_hex(uuid.uuid4().bytes),
            device_id=DEVICE,
            signature_valid=valid,
            pdf_size=1,
            pdf_path="placeholder.pdf",
            received_at=received,
            **fields,
        )
        s.add(record)
        s.commit()
        return record.id


def names(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["ho_ten"] for item in response.json()["items"]]


def communes_of(engine: Engine, code: str) -> list[str]:
    with session_scope(engine) as s:
        return sorted(units.visible_units(s, code) - {code})


# --- folding ---------------------------------------------------------------------------------


def test_folding_maps_d_and_keeps_tones_apart() -> None:
    assert fold("Đặng Đỗ Thị Hưởng") == "dang do thi huong"
    assert tone_form("Hương") == "huong"
    assert tone_form("Hưởng") == "huỏng"


def test_the_index_folds_the_body_as_python_folds_the_query() -> None:
    vowels = "aăâeêioôơuưy"
    letters = [unicodedata.normalize("NFC", v + t) for v in vowels for t in TONES] + ["đ", "Đ"]
    text = " ".join(letters + [x.upper() for x in letters] + ["Nguyễn", "Katơr", "H'Hen"])
    assert folding_analyzer().analyze(text) == words(fold(text))


# --- matching and ranking --------------------------------------------------------------------


def test_accent_insensitive_and_ranked(client: TestClient, repo: Engine) -> None:
    add(repo, ho_ten="Nguyễn Thị Hương", cccd="056190000002")
    add(repo, ho_ten="Nguyễn Thị Hưởng", cccd="056190000001")  # the newer: first unless ranked
    add(repo, ho_ten="Đặng Văn Đông")
    add(repo, ho_ten="Đỗ Thị Mai")
    assert names(client.get("/api/search", params={"q": "nguyen thi huong"})) == [
        "Nguyễn Thị Hương",
        "Nguyễn Thị Hưởng",
    ]
    assert names(client.get("/api/search", params={"name": "Nguyễn Thị Hương"})) == [
        "Nguyễn Thị Hương",
        "Nguyễn Thị Hưởng",
    ]
    # `Huong` as typed has no tone: Hương (no tone) ranks above Hưởng (hỏi), newer though it is.
    assert names(client.get("/api/search", params={"name": "Huong"})) == [
        "Nguyễn Thị Hương",
        "Nguyễn Thị Hưởng",
    ]
    assert names(client.get("/api/search", params={"q": "Hưởng"})) == [
        "Nguyễn Thị Hưởng",
        "Nguyễn Thị Hương",
    ]
    assert names(client.get("/api/search", params={"q": "dang"})) == ["Đặng Văn Đông"]
    assert names(client.get("/api/search", params={"name": "do thi"})) == ["Đỗ Thị Mai"]
    assert client.get("/api/search", params={"q": "huong"}).json()["total"] == 2


def test_free_text_reaches_the_recognised_text(client: TestClient, repo: Engine) -> None:
    add(repo, ho_ten="Ma Văn Sơn", ocr_text="Chứng nhận quyền sử dụng đất tại thôn Ea Sô")
    add(repo, ho_ten="Katơr Thị Lài", ocr_text="Giấy khai sinh")
    assert names(client.get("/api/search", params={"q": "quyen su dung dat"})) == ["Ma Văn Sơn"]
    assert names(client.get("/api/search", params={"q": "Katơr"})) == ["Katơr Thị Lài"]


def test_filters(client: TestClient, repo: Engine) -> None:
    communes = communes_of(repo, NHA_TRANG_CITY)
    inside, outside = communes[0], communes_of(repo, "58")[0]
    assert outside not in communes
    add(
        repo,
        ho_ten="Trần Văn A",
        cccd="056090000011",
        unit_code=inside,
        ngay_ban_hanh="2024-03-01",
        so_ky_hieu="05/QĐ-UBND",
        procedure_code="1.001193",
    )
    add(
        repo,
        ho_ten="Trần Văn B",
        cccd="056090000012",
        unit_code=outside,
        ngay_ban_hanh="2025-08-01",
        so_ky_hieu="06/QĐ-UBND",
        procedure_code="1.000894",
    )
    get = client.get
    assert names(get("/api/search", params={"cccd": "056090000011"})) == ["Trần Văn A"]
    assert names(get("/api/search", params={"so_ky_hieu": "05/qd-ubnd"})) == ["Trần Văn A"]
    assert names(get("/api/search", params={"procedure": "1.000894"})) == ["Trần Văn B"]
    assert names(get("/api/search", params={"unit": NHA_TRANG_CITY, "q": "tran"})) == ["Trần Văn A"]
    assert names(get("/api/search", params={"from": "2025-01-01", "q": "tran"})) == ["Trần Văn B"]
    assert names(get("/api/search", params={"to": "2024-12-31"})) == ["Trần Văn A"]
    assert names(get("/api/search", params={"from": "2024-03-01", "to": "2024-03-01"})) == [
        "Trần Văn A"
    ]


def test_pages_neither_repeat_nor_skip(client: TestClient, repo: Engine) -> None:
    for i in range(23):
        add(repo, ho_ten=f"Lê Thị Hồng {i}" if i % 3 else f"Le Thi Hong {i}")
    seen: list[str] = []
    params: dict[str, Any] = {"name": "Le Thi Hong", "limit": 10}
    page = client.get("/api/search", params=params).json()
    assert page["total"] == 23
    while True:
        seen += [item["id"] for item in page["items"]]
        add(repo, ho_ten="Lê Thị Hồng mới")  # newer results arrive meanwhile: no repeat, no skip
        if page["next"] is None:
            break
        page = client.get("/api/search", params={**params, "cursor": page["next"]}).json()
    assert len(seen) == len(set(seen)) == 23
    first = names(client.get("/api/search", params={"name": "Le Thi Hong", "limit": 8}))
    assert all(n.startswith("Le Thi Hong") for n in first)  # typed as written: ranked first


@pytest.mark.parametrize("limit", [1, 3, 7])
def test_small_pages_keep_the_rank_order_across_tiers(
    client: TestClient, repo: Engine, limit: int
) -> None:
    """More results than a page's look at the newest hits (`index.newest_window`): each tier
    is still whole and newest first, page after page, and every page says the same total."""
    forms = ["Le Thi Hong", "Lê Thi Hong", "Lê Thị Hồng", "Lề Thị Hồng"]  # tiers 4, 3, 2, 1
    added = [(4 - (i * 7) % 4, i) for i in range(40)]  # the tiers interleaved in time
    ids = [add(repo, ho_ten=forms[4 - tier]) for tier, _ in added]
    expected = [ids[i] for _, i in sorted(added, key=lambda a: (-a[0], -a[1]))]
    params: dict[str, Any] = {"name": "Le Thi Hong", "limit": limit}
    seen: list[str] = []
    page = client.get("/api/search", params=params).json()
    for _ in range(40 // limit + 1):  # a page that repeats itself must not loop forever
        assert page["total"] == 40
        seen += [item["id"] for item in page["items"]]
        if page["next"] is None:
            break
        page = client.get("/api/search", params={**params, "cursor": page["next"]}).json()
    assert seen == expected


# --- citizens and reuse --------------------------------------------------------------------


def test_citizen_results_newest_first_with_validity(client: TestClient, repo: Engine) -> None:
    old = add(repo, ho_ten="Y Blang Niê", cccd="066095001234", ngay_ban_hanh="2019-05-02")
    new = add(
        repo,
        ho_ten="Y Blang Niê",
        cccd="066095001234",
        ngay_ban_hanh="2025-09-10",
        signature_valid=False,
    )
    add(repo, ho_ten="Someone Else", cccd="066095001235")
    body = client.get("/api/citizens/066095001234/results").json()
    assert [i["id"] for i in body["items"]] == [new, old]
    assert [i["validity"] for i in body["items"]] == ["signature_invalid", "valid"]
    reuse = client.post(
        f"/api/results/{old}/reuse", json={"dossier_code": "000.00.15.H41-251206-0001"}
    )
    assert reuse.status_code == 200, reuse.text
    assert reuse.json()["reuse_count"] == 1 and reuse.json()["recorded"] is True
    again = client.post(
        f"/api/results/{old}/reuse", json={"dossier_code": "000.00.15.H41-251206-0001"}
    )
    assert again.json()["reuse_count"] == 1 and again.json()["recorded"] is False
    other = client.post(f"/api/results/{old}/reuse", json={"dossier_code": "22333-251207-0002"})
    assert other.json()["reuse_count"] == 2
    counts = {
        i["id"]: i["reuse_count"]
        for i in client.get("/api/citizens/066095001234/results").json()["items"]
    }
    assert counts == {new: 0, old: 2}


@pytest.mark.parametrize(
    "code",
    [
        "",
        "22333",
        "22333-251332-0001",
        "22333-250230-0001",
        "22333-251206-0000",
        "22333-251206-12345",
        "<b>x</b>-251206-0001",
        "x'; DROP TABLE record;--",
        "a" * 70,
    ],
)
def test_reuse_refuses_malformed_dossier_codes(client: TestClient, repo: Engine, code: str) -> None:
    record = add(repo, ho_ten="Pi Năng Thị Ka")
    response = client.post(f"/api/results/{record}/reuse", json={"dossier_code": code})
    assert response.status_code == 422, response.text
    assert "dossier_code" in response.text


def test_reuse_of_an_unknown_result_is_404(client: TestClient) -> None:
    response = client.post(
        f"/api/results/{uuid.uuid4()}/reuse", json={"dossier_code": "22333-251206-0001"}
    )
    assert response.status_code == 404


# --- unit officers and roles -------------------------------------------------------------------


def test_unit_officer_sees_only_its_units(settings: ServerSettings, repo: Engine) -> None:
    communes = communes_of(repo, "22333")  # Bắc Nha Trang and the communes merged into it
    mine = add(repo, ho_ten="Nguyễn Văn Mình", cccd="056090000021", unit_code=communes[0])
    theirs = add(repo, ho_ten="Nguyễn Văn Người", cccd="056090000022", unit_code="22402")
    with TestClient(create_app(settings, repo)) as c:
        sign_in(c, repo, Role.UNIT_OFFICER, unit="22333")
        assert names(c.get("/api/search", params={"q": "nguyen van"})) == ["Nguyễn Văn Mình"]
        assert c.get("/api/search", params={"q": "nguyen van"}).json()["total"] == 1
        assert c.get("/api/citizens/056090000022/results").json()["items"] == []
        assert c.get("/api/search", params={"unit": "22402"}).status_code == 403
        for record in (theirs, str(uuid.uuid4())):  # another unit's and a missing one: alike
            r = c.post(f"/api/results/{record}/reuse", json={"dossier_code": "22333-251206-0001"})
            assert r.status_code == 403
            assert record in r.json()["detail"]
        ok = c.post(f"/api/results/{mine}/reuse", json={"dossier_code": "22333-251206-0001"})
        assert ok.status_code == 200


def test_roles_and_anonymous(settings: ServerSettings, repo: Engine) -> None:
    with TestClient(create_app(settings, repo)) as c:
        for path in ("/api/search?q=a", "/api/citizens/056090000021/results"):
            assert c.get(path).status_code == 401
        add_account(repo, "auditor", Role.AUDITOR)
        token = token_for(c, "auditor")
        assert c.get("/api/search?q=a", headers=bearer(token)).status_code == 403
        assert c.get("/api/citizens/056090000021/results", headers=bearer(token)).status_code == 403


# --- bad input ---------------------------------------------------------------------------------

HOSTILE = [
    "' OR 1=1 --",
    "x'; DROP TABLE record;--",
    "<script>alert(1)</script>",
    '" AND "',
    "*:* OR id:*",
    "%' UNION SELECT password_hash FROM account --",
]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"q": "a" * 201}, "at most 200"),
        ({"q": "' -- ;"}, "no word"),
        ({"q": "a\x00b"}, "control"),
        ({"q": " ".join(["x"] * 13)}, "at most 12"),
        ({"q": "a" * 41}, "longer than 40"),
        ({"name": "!!!"}, "no word"),
        ({"limit": 101}, "less than or equal"),
        ({"limit": 0}, "greater than or equal"),
        ({"limit": "ten"}, "integer"),
        ({"cccd": "12345"}, "12 digits"),
        ({"cccd": "05609000002x"}, "12 digits"),
        ({"from": "2025-13-01"}, "YYYY-MM-DD"),
        ({"to": "01/02/2025"}, "YYYY-MM-DD"),
        ({"from": "2025-02-01", "to": "2025-01-01"}, "after"),
        ({"unit": "99999"}, "not a unit"),
        ({"procedure": "1.0<script>"}, "code"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "x" * 300}, "cursor"),
        ({"q": "x" * 3000}, "at most 2000"),
    ],
)
def test_bad_search_input_is_a_clear_422(
    client: TestClient, params: dict[str, Any], reason: str
) -> None:
    response = client.get("/api/search", params=params)
    assert response.status_code == 422, response.text
    assert reason in response.text
    # One shape for every 422, the framework's and ours: the schema in /openapi.json holds.
    assert response.json()["detail"][0]["loc"][-1] in params


@pytest.mark.parametrize(
    "parameter",
    ["q", "cccd", "name", "so_ky_hieu", "procedure", "unit", "from", "to", "limit", "cursor"],
)
def test_hostile_text_in_every_parameter_is_never_a_500(
    client: TestClient, repo: Engine, parameter: str
) -> None:
    add(repo, ho_ten="Nguyễn Văn An")
    for payload in HOSTILE:
        response = client.get("/api/search", params={parameter: payload})
        assert response.status_code in (200, 422), response.text
        if response.status_code == 200:
            assert response.json()["items"] == []
    for payload in HOSTILE:
        assert client.get(f"/api/citizens/{payload}/results").status_code in (404, 422)
    with session_scope(repo) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Record)).scalar_one() == 1


def test_a_cursor_is_bound_to_its_query_and_signed(client: TestClient, repo: Engine) -> None:
    for _ in range(3):
        add(repo, ho_ten="Hoàng Văn Bảo")
    cursor = client.get("/api/search", params={"q": "bao", "limit": 1}).json()["next"]
    assert (
        client.get("/api/search", params={"q": "bao", "limit": 1, "cursor": cursor}).status_code
        == 200
    )
    other = client.get("/api/search", params={"q": "hoang", "limit": 1, "cursor": cursor})
    assert other.status_code == 422 and "another query" in other.text
    flipped = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    tampered = client.get("/api/search", params={"q": "bao", "limit": 1, "cursor": flipped})
    assert tampered.status_code == 422 and "not one this server gave" in tampered.text


@pytest.mark.parametrize("cccd", ["12345678901", "1234567890123", "abcdefghijkl", "05609000002%20"])
def test_bad_cccd_in_citizen_lookup(client: TestClient, cccd: str) -> None:
    response = client.get(f"/api/citizens/{cccd}/results")
    assert response.status_code == 422, response.text
