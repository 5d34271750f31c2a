"""Web app: readiness, the dose calculator, the plain-language answers, the rules, errors, accessibility basics."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from test_web_support import TestClient, Web, field_error, input_value, make_web

from b12.adapters.web import plain
from b12.adapters.web.app import create_app
from b12.adapters.web.settings import Settings
from b12.domain.guidelines import load_common, sources

HX = {"HX-Request": "true"}


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    yield from make_web(tmp_path)


# --- readiness --------------------------------------------------------------------------------------------


def test_healthz_answers_200_once_the_startup_check_has_run(web: Web) -> None:
    response = web.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_answers_503_before_startup(tmp_path: Path) -> None:
    app = create_app(Settings(secret_key="s" * 40, data_dir=tmp_path), uow_factory=lambda: None)  # type: ignore[arg-type,return-value]
    client = TestClient(app)  # no `with`: the lifespan has not run
    assert client.get("/healthz").status_code == 503


# --- the dose calculator ---------------------------------------------------------------------------------


def test_calculator_fragment_answers_1_mg_of_1000_mcg_per_ml_as_1_ml_and_100_units(web: Web) -> None:
    response = web.post("/dose", {"dose": "1 mg", "strength": "1000 mcg/mL", "syringe": "U-100"}, headers=HX)
    assert response.status_code == 200
    assert "<html" not in response.text  # a fragment, not a page
    text = _text(response.text)
    assert "Draw up 1 mL = 100 units on a U-100 syringe" in text
    assert "1 mg = 1000 micrograms" in text
    assert 'id="dose-error" hx-swap-oob="true" hidden' in response.text  # clears an earlier message


def test_calculator_page_works_without_javascript(web: Web) -> None:
    response = web.post("/dose", {"dose": "1000 mcg", "strength": "1 mg/mL", "syringe": "U-40"})
    assert response.status_code == 200
    assert "<html" in response.text
    assert "Draw up 1 mL = 40 units on a U-40 syringe" in _text(response.text)
    assert input_value(response.text, "dose") == "1000 mcg"


def test_calculator_reads_a_volume_as_the_dose_it_holds(web: Web) -> None:
    response = web.post("/dose", {"dose": "0.5 mL", "strength": "1000 mcg/mL", "syringe": "U-100"}, headers=HX)
    assert "0.5 mL of 1000 µg/mL holds 0.5 mg (500 micrograms): that is 50 units" in _text(response.text)


def test_calculator_refuses_iu_with_the_explanation_beside_the_field_and_keeps_the_values(web: Web) -> None:
    response = web.post("/dose", {"dose": "1000 IU", "strength": "1000 mcg/mL", "syringe": "U-100"})
    assert response.status_code == 422
    message = field_error(response.text, "dose")
    assert "not in international units" in message
    assert "no IU conversion for B12" in message
    assert input_value(response.text, "dose") == "1000 IU"
    assert input_value(response.text, "strength") == "1000 mcg/mL"
    assert 'aria-invalid="true"' in response.text


def test_calculator_fragment_shows_the_iu_refusal_beside_the_field(web: Web) -> None:
    response = web.post("/dose", {"dose": "1000 IU", "strength": "1000 mcg/mL", "syringe": "U-100"}, headers=HX)
    assert response.status_code == 422
    assert re.search(r'id="dose-error" hx-swap-oob="true">.*no IU conversion for B12', response.text, re.S)


def test_calculator_while_typing_does_not_flag_fields_not_reached_yet(web: Web) -> None:
    response = web.post("/dose", {"dose": "1 mg", "strength": "", "syringe": "U-100"}, headers=HX)
    assert response.status_code == 200
    assert "Enter a dose and a strength" in response.text


def test_calculator_form_post_names_every_missing_field(web: Web) -> None:
    response = web.post("/dose", {"dose": "", "strength": ""})
    assert response.status_code == 422
    assert "Enter the dose" in field_error(response.text, "dose")
    assert "Enter the strength" in field_error(response.text, "strength")


def test_calculator_refuses_a_lab_unit_as_a_dose(web: Web) -> None:
    response = web.post("/dose", {"dose": "250 pg/mL", "strength": "1 mg/mL"})
    assert response.status_code == 422
    assert "is not a dose" in field_error(response.text, "dose")


def test_calculator_warns_when_the_volume_is_hard_to_measure(web: Web) -> None:
    response = web.post("/dose", {"dose": "25 mcg", "strength": "1 mg/mL", "syringe": "U-100"}, headers=HX)
    assert "hard to measure" in response.text


# --- plain language and rules -------------------------------------------------------------------------------


def test_plain_language_page_answers_the_three_questions_and_links_their_sources(web: Web) -> None:
    response = web.client.get("/questions")
    assert response.status_code == 200
    text = _text(response.text)
    for question in ("How many mg is in my injection?", "How long until it works?", "Can I take tablets instead?"):
        assert question in text
    # Figures come from the guideline data, with their sources linked to the source's address.
    progress = load_common().progress
    assert progress["reticulocytes"]["text"] in text
    assert f"Day {progress['hemoglobin']['day']}:" in text
    s18 = sources()["S18"]
    assert f'href="{s18.url}"' in response.text
    for rule in ("UK-ORAL-MAL", "UK-IM-NEURO", "US-AAFP", "DOSE-VOLUME"):
        assert f'href="/rules/{rule}"' in response.text
    assert "1000 micrograms = 1 mg" in text
    assert "no IU conversion for B12" in text


def test_plain_language_answers_cite_a_source_or_say_why_on_every_data_line() -> None:
    for answer in plain.answers():
        lines = [line for part in answer.parts for line in part.lines]
        uncited = [line.text for line in lines if not line.sources]
        # Only the framing sentence on units (a definition: 1000 micrograms = 1 mg) cites nothing.
        assert len(uncited) <= 1, uncited
        assert all(s in sources() for line in lines for s in line.sources)


def test_rule_page_shows_the_rule_and_its_sources(web: Web) -> None:
    response = web.client.get("/rules/UK-IM-NN")
    assert response.status_code == 200
    assert sources()["S18"].url in response.text
    assert web.client.get("/rules").status_code == 200


def test_unknown_rule_and_unknown_page_are_friendly_404s(web: Web) -> None:
    for path in ("/rules/NO-SUCH-RULE", "/no/such/page"):
        response = web.client.get(path)
        assert response.status_code == 404
        assert "Page not found" in response.text
        assert "<main" in response.text


def test_wrong_method_is_a_friendly_page(web: Web) -> None:
    response = web.client.get("/signout")
    assert response.status_code == 405
    assert "<main" in response.text


def test_an_unexpected_error_is_a_friendly_500_page_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("b12.adapters.web.routes.pages.answers", broken)
    for web in make_web(tmp_path):
        client = TestClient(web.client.app, raise_server_exceptions=False)
        response = client.get("/questions")
        assert response.status_code == 500
        assert "Something went wrong" in response.text
        assert "secret internals" not in response.text
        assert "Traceback" not in response.text


# --- every page: language, landmarks, labels, offline --------------------------------------------------------

PAGES = ("/", "/assess", "/compare", "/questions", "/rules", "/rules/SAFE-K", "/signin", "/signup", "/nope")


class _Audit(HTMLParser):
    """Collects what the page checks need: <html lang>, <main>, form controls and their labels."""

    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.mains = 0
        self.controls: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(str(a["id"]))
        if tag == "html":
            self.lang = a.get("lang")
        elif tag == "main":
            self.mains += 1
        elif tag == "label" and a.get("for"):
            self.label_for.add(str(a["for"]))
        elif tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit", "button"):
            self.controls.append(a)
        elif tag == "script" and a.get("src"):
            self.scripts.append(str(a["src"]))
        elif tag == "link" and a.get("rel") == "stylesheet":
            self.stylesheets.append(str(a.get("href")))


def _audit(html: str) -> _Audit:
    audit = _Audit()
    audit.feed(html)
    return audit


def _check_page(html: str, where: str) -> None:
    audit = _audit(html)
    assert audit.lang == "en-GB", where
    assert audit.mains == 1, where
    assert 'class="skip-link" href="#main"' in html, where
    for control in audit.controls:
        assert control.get("id") in audit.label_for or control.get("aria-label"), f"{where}: {control}"
    duplicates = {i for i in audit.ids if audit.ids.count(i) > 1}
    assert not duplicates, f"{where}: duplicate IDs {duplicates}"
    # Works offline: every script and stylesheet is served by the app itself.
    assert all(src.startswith("/static/") for src in audit.scripts + audit.stylesheets), where


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_a_language_a_main_landmark_and_labelled_inputs(web: Web, path: str) -> None:
    _check_page(web.client.get(path).text, path)


def test_refused_forms_keep_their_labels_and_landmarks(web: Web) -> None:
    for path, data in (
        ("/dose", {"dose": "1000 IU", "strength": "x"}),
        ("/assess", {"guideline": "uk", "labs[0].test": "b12_total", "labs[0].value": "abc"}),
        ("/signup", {"email": "nope"}),
        ("/signin", {"email": ""}),
    ):
        response = web.post(path, data)
        assert response.status_code == 422, path
        _check_page(response.text, path)


def test_htmx_is_vendored_version_2_0_11_and_served_locally(web: Web) -> None:
    response = web.client.get("/static/js/htmx.min.js")
    assert response.status_code == 200
    assert 'version:"2.0.11"' in response.text
    page = web.client.get("/").text
    assert 'hx-trigger="input changed delay:300ms"' in page
    assert "https://" not in " ".join(_audit(page).scripts)


def test_responses_carry_security_headers(web: Web) -> None:
    headers = web.client.get("/").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"


def test_demo_mode_labels_every_page_and_creates_the_demo_accounts(tmp_path: Path) -> None:
    from b12.adapters.web.demo import DEMO_ACCOUNTS

    for web in make_web(tmp_path, demo=True):
        assert "Demo clinic" in web.client.get("/").text
        assert {a.email for a in web.store.accounts.values()} == {a.email for a in DEMO_ACCOUNTS}
        assert all(a.password_hash.startswith("$argon2id$") for a in web.store.accounts.values())
        patient = next(p for p in web.store.patients.values())
        clinician = next(a for a in web.store.accounts.values() if a.role.value == "clinician")
        assert patient.clinician_id == clinician.id


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace(" .", ".").replace(" ,", ",")


def test_b12_errors_are_422_pages_and_not_allowed_is_a_404(tmp_path: Path) -> None:
    from fastapi import APIRouter

    from b12.domain.access import NotAllowedError
    from b12.domain.errors import UnknownUnitError

    router = APIRouter()

    @router.get("/raises/b12")
    def raises_b12() -> None:
        raise UnknownUnitError("furlongs", ["mg"])

    @router.get("/raises/not-allowed")
    def raises_not_allowed() -> None:
        raise NotAllowedError("someone", "course", "c1")

    for web in make_web(tmp_path):
        web.client.app.include_router(router)  # type: ignore[attr-defined]
        response = web.client.get("/raises/b12")
        assert response.status_code == 422
        assert "Unknown unit &#39;furlongs&#39;" in response.text
        response = web.client.get("/raises/not-allowed")
        assert response.status_code == 404
        assert "c1" not in response.text
        htmx = web.client.get("/raises/b12", headers=HX)
        assert htmx.headers["HX-Retarget"] == "#htmx-error"
        assert "<html" not in htmx.text
