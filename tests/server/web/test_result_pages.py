"""The search, result and access-log pages: what each shows, what each refuses, and that each
read of a citizen's data is audited as the API audits it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from server.blobs import BlobStore
from server.config import ServerSettings
from server.models import AuditEntry, Record, ResultReuse
from server.repository import results
from server.search.fold import fold
from tests.server.web.pages import Repository, sign_in

_ROW = re.compile(r'<a href="/results/([0-9a-f-]{36})">')


def _record(engine: Engine, record_id: str) -> Record:
    with Session(engine) as s:
        found = s.get(Record, record_id)
    assert found is not None
    return found


def _audit(engine: Engine) -> list[AuditEntry]:
    with Session(engine) as s:
        return list(s.exec(select(AuditEntry).order_by(AuditEntry.seq)).all())  # type: ignore[arg-type]


def _reuses(engine: Engine, record_id: str) -> list[ResultReuse]:
    with Session(engine) as s:
        return list(s.exec(select(ResultReuse).where(ResultReuse.record_id == record_id)).all())


def test_search_ignores_accents_and_marks_what_matched(
    web: TestClient, db_engine: Engine, repository: Repository
) -> None:
    name = _record(db_engine, repository.mine).ho_ten
    assert name
    sign_in(web, "admin")
    with_accents = web.get("/search", params={"q": name})
    without = web.get("/search", params={"q": fold(name)})
    assert with_accents.status_code == without.status_code == 200
    assert repository.mine in _ROW.findall(with_accents.text)
    assert repository.mine in _ROW.findall(without.text)
    total = re.compile(r'<h2 id="found-title">([0-9.]+) kết quả</h2>')
    counted = total.search(with_accents.text)
    assert counted is not None
    assert counted.group(1) == total.findall(without.text)[0]  # the same results, ranked
    family = name.split()[0]
    assert f"<mark>{family}</mark>" in without.text  # marked as printed, though typed bare


def test_a_page_without_a_question_lists_nobody(web: TestClient, db_engine: Engine) -> None:
    sign_in(web, "admin")
    before = len(_audit(db_engine))
    response = web.get("/search")
    assert response.status_code == 200
    assert _ROW.findall(response.text) == []
    assert len(_audit(db_engine)) == before


def test_each_search_is_audited_with_its_question(web: TestClient, db_engine: Engine) -> None:
    sign_in(web, "officer")
    web.get("/search", params={"q": "Nguyễn"})
    last = _audit(db_engine)[-1]
    assert (last.username, last.action) == ("officer", "search")
    assert last.query is not None and "q=Nguy" in last.query


def test_an_officer_finds_only_the_results_of_their_unit(
    web: TestClient, db_engine: Engine, repository: Repository
) -> None:
    sign_in(web, "officer")
    response = web.get("/search", params={"q": "giấy"})
    ids = _ROW.findall(response.text)
    assert ids
    with Session(db_engine) as s:
        visible = results.visible_units_of(s, repository.unit)
    assert {_record(db_engine, i).unit_code for i in ids} <= visible
    with Session(db_engine) as s:
        elsewhere = s.exec(
            select(Record.id).where(col(Record.unit_code).not_in(list(visible)))
        ).all()
    assert elsewhere and not set(elsewhere) & set(ids)


def test_a_filter_outside_the_officers_units_is_refused(web: TestClient) -> None:
    sign_in(web, "officer")
    response = web.get("/search", params={"q": "giấy", "unit": "56"})  # the whole province
    assert response.status_code == 403
    assert "Không có quyền truy cập" in response.text


def test_bad_search_input_is_shown_on_the_form(web: TestClient) -> None:
    sign_in(web, "admin")
    response = web.get("/search", params={"q": "x", "from": "2025-02-30"})
    assert response.status_code == 422
    assert "Từ ngày" in response.text
    assert 'value="x"' in response.text  # what was typed stays
    too_long = web.get("/search", params={"q": "x" * 3000})
    assert too_long.status_code == 422
    assert "text/html" in too_long.headers["content-type"]


def test_the_api_still_answers_its_refusals_in_json(web: TestClient) -> None:
    response = web.get("/api/records", params={"limit": 0})
    assert response.status_code in (401, 422)
    assert response.headers["content-type"] == "application/json"


def test_a_result_page_shows_the_verdict_fields_and_versions(
    web: TestClient, db_engine: Engine, repository: Repository
) -> None:
    record = _record(db_engine, repository.mine)
    sign_in(web, "officer")
    response = web.get(f"/results/{record.id}")
    assert response.status_code == 200
    page = response.text
    assert "Hợp lệ." in page
    assert record.device_id in page
    assert record.so_ky_hieu and record.so_ky_hieu in page
    assert record.ngay_ban_hanh
    y, m, d = record.ngay_ban_hanh.split("-")
    assert f"{d}/{m}/{y}" in page  # dd/mm/yyyy
    assert "Các phiên bản" in page
    assert "Lịch sử truy cập" not in page  # an officer does not see who else read it
    actions = [e.action for e in _audit(db_engine)[-2:]]
    assert actions == ["record.read", "record.versions"]


def test_an_admin_sees_who_read_a_result(
    web: TestClient, db_engine: Engine, repository: Repository
) -> None:
    sign_in(web, "officer")
    web.get(f"/results/{repository.mine}")
    web.cookies.clear()
    sign_in(web, "admin")
    page = web.get(f"/results/{repository.mine}").text
    assert "Lịch sử truy cập" in page
    history = page.split("Lịch sử truy cập", 1)[1]
    assert "officer" in history


def test_another_units_result_is_refused_as_if_it_did_not_exist(
    web: TestClient, db_engine: Engine, repository: Repository
) -> None:
    sign_in(web, "officer")
    for path in (
        f"/results/{repository.theirs}",
        f"/results/{repository.theirs}/pdf",
        f"/results/{repository.theirs}/nd30.xml",
        "/results/00000000-0000-0000-0000-000000000000",
    ):
        response = web.get(path)
        assert response.status_code == 403, path
        assert "Không có quyền truy cập" in response.text
    refused = [e for e in _audit(db_engine) if e.action.endswith(".refused")]
    assert {e.record_id for e in refused} >= {repository.theirs}


def test_a_malformed_result_id_is_refused_with_a_page(web: TestClient) -> None:
    sign_in(web, "admin")
    response = web.get("/results/%3Cscript%3E")
    assert response.status_code == 422
    assert "text/html" in response.headers["content-type"]
    assert "<script>" not in response.text


def test_the_pdf_is_served_inline_exactly_as_stored(
    web: TestClient,
    db_engine: Engine,
    repository: Repository,
    api_settings: ServerSettings,
) -> None:
    record = _record(db_engine, repository.mine)
    stored = BlobStore(api_settings.data_dir).resolve(record.pdf_path).read_bytes()
    sign_in(web, "officer")
    shown = web.get(f"/results/{record.id}/pdf")
    assert shown.status_code == 200
    assert shown.headers["content-type"] == "application/pdf"
    assert shown.headers["content-disposition"].startswith("inline;")
    assert hashlib.sha256(shown.content).digest() == hashlib.sha256(stored).digest()
    saved = web.get(f"/results/{record.id}/pdf", params={"download": "1"})
    assert saved.headers["content-disposition"].startswith("attachment;")
    assert saved.content == stored
    assert _audit(db_engine)[-1].action == "record.pdf"


def test_the_nd30_metadata_downloads_as_xml(
    web: TestClient, db_engine: Engine, repository: Repository
) -> None:
    record = _record(db_engine, repository.mine)
    sign_in(web, "officer")
    response = web.get(f"/results/{record.id}/nd30.xml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert "attachment" in response.headers["content-disposition"]
    assert f"<Identifier>{record.result_id}</Identifier>".encode() in response.content
    assert _audit(db_engine)[-1].action == "record.export"


def test_reuse_is_recorded_once_per_dossier_and_shown(
    web: TestClient, db_engine: Engine, repository: Repository
) -> None:
    csrf = sign_in(web, "officer")
    form = {"csrf": csrf, "dossier_code": "000.00.15.H41-251206-0001"}
    response = web.post(f"/results/{repository.mine}/reuse", data=form)
    assert response.status_code == 303
    shown = web.get(response.headers["location"])
    assert "Đã ghi nhận tái sử dụng" in shown.text
    assert "000.00.15.H41-251206-0001" in shown.text
    web.post(f"/results/{repository.mine}/reuse", data=form)  # the same dossier again
    reuses = _reuses(db_engine, repository.mine)
    assert [(r.dossier_code, r.username) for r in reuses] == [
        ("000.00.15.H41-251206-0001", "officer")
    ]
    entry = next(e for e in reversed(_audit(db_engine)) if e.action == "reuse")
    assert entry.purpose == "reuse for dossier 000.00.15.H41-251206-0001"


def test_reuse_without_the_sessions_token_is_refused_and_not_recorded(
    web: TestClient, db_engine: Engine, repository: Repository
) -> None:
    sign_in(web, "officer")
    for form in ({"dossier_code": "000.00.15.H41-251206-0002"}, {"csrf": "forged", "x": "1"}):
        response = web.post(f"/results/{repository.mine}/reuse", data=form)
        assert response.status_code == 403
        assert "Biểu mẫu không hợp lệ" in response.text
    assert _reuses(db_engine, repository.mine) == []


def test_a_bad_dossier_code_is_explained_on_the_page(
    web: TestClient, db_engine: Engine, repository: Repository
) -> None:
    csrf = sign_in(web, "officer")
    response = web.post(
        f"/results/{repository.mine}/reuse", data={"csrf": csrf, "dossier_code": "HS-1"}
    )
    assert response.status_code == 422
    assert "Mã hồ sơ không hợp lệ" in response.text
    assert 'value="HS-1"' in response.text
    assert _reuses(db_engine, repository.mine) == []


def test_another_units_result_cannot_be_reused(
    web: TestClient, db_engine: Engine, repository: Repository
) -> None:
    csrf = sign_in(web, "officer")
    response = web.post(
        f"/results/{repository.theirs}/reuse",
        data={"csrf": csrf, "dossier_code": "000.00.15.H41-251206-0003"},
    )
    assert response.status_code == 403
    assert _reuses(db_engine, repository.theirs) == []


def test_the_access_log_page_shows_reads_and_records_its_own_reading(
    web: TestClient, db_engine: Engine, repository: Repository
) -> None:
    sign_in(web, "officer")
    web.get(f"/results/{repository.mine}")
    web.cookies.clear()
    sign_in(web, "auditor")
    response = web.get("/audit", params={"record_id": repository.mine})
    assert response.status_code == 200
    assert "Xem kết quả" in response.text and "officer" in response.text
    assert _audit(db_engine)[-1].action == "audit.read"
    bad = web.get("/audit", params={"record_id": "x" * 100})
    assert bad.status_code == 422


def test_pages_hold_no_outside_resource(web: TestClient, repository: Repository) -> None:
    sign_in(web, "admin")
    for path in ("/login", "/search?q=a", f"/results/{repository.mine}", "/audit"):
        html = web.get(path).text
        assert not re.search(r'(src|href)="(https?:)?//', html), path


def test_the_stylesheet_is_served_to_the_sign_in_page(web: TestClient) -> None:
    response = web.get("/static/site.css")
    assert response.status_code == 200
    assert Path(__file__).parents[3].joinpath("server/web/static/site.css").read_bytes() == (
        response.content
    )


def test_the_result_type_filter_keeps_that_type_only(
    web: TestClient, db_engine: Engine, repository: Repository
) -> None:
    wanted = _record(db_engine, repository.mine).loai_van_ban
    assert wanted
    sign_in(web, "admin")
    folded = fold(wanted).lower()  # typed bare, in lower case: the same type
    since = {"from": "1900-01-01"}
    ids = _ROW.findall(web.get("/search", params={**since, "doc_type": folded}).text)
    assert ids
    assert {_record(db_engine, i).loai_van_ban for i in ids} == {wanted}
    everything = _ROW.findall(web.get("/search", params=since).text)
    assert set(everything) - set(ids)  # the filter did take some away
