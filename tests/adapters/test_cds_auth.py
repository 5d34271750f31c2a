"""CDS Hooks 2.0 "Trusting CDS Clients": the bearer JWT of every CDS call, verified when clients are configured.

Keys are made here (EC P-384 and RSA 2048), tokens signed with PyJWT, JWK Sets served by ``httpx.MockTransport``
handlers; the router is mounted on a small FastAPI app of its own, and in the end on the whole web app.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.exceptions import StarletteDeprecationWarning

from b12.adapters.cds_auth import (
    LEEWAY_S,
    CdsAuthError,
    CdsClientsError,
    ClientVerifier,
    TrustedClient,
    TrustedClients,
    VerifiedClient,
    load_trusted_clients,
    parse_trusted_clients,
)
from b12.adapters.cds_hooks import CdsDeps, cds_router
from b12.adapters.cds_models import FeedbackRecord
from b12.adapters.web.app import create_app
from b12.adapters.web.settings import Settings
from fakes import FakeUnitOfWork, FixedClock

with warnings.catch_warnings():
    # starlette.testclient warns once, at import, that it runs on httpx rather than httpx2.
    warnings.filterwarnings(
        "ignore", message="Using `httpx` with `starlette.testclient`", category=StarletteDeprecationWarning
    )
    from fastapi.testclient import TestClient

NOW = datetime(2025, 1, 8, 10, 0, tzinfo=UTC)
NOW_S = int(NOW.timestamp())
ISSUER = "https://ehr.example.org/"
ROTATING_ISSUER = "https://rotating-ehr.example.net"
JKU = "https://rotating-ehr.example.net/.well-known/jwks.json"
OTHER_JKU = "https://attacker.example.com/jwks.json"
STATUS = "/cds-services/b12-status"
FEEDBACK = "/cds-services/b12-status/feedback"
SERVER = "http://testserver"  # TestClient's base URL

EC_KEY = ec.generate_private_key(ec.SECP384R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
STRANGER_KEY = ec.generate_private_key(ec.SECP384R1())
OMIT = object()


def public_jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = ECAlgorithm if isinstance(key, ec.EllipticCurvePrivateKey) else RSAAlgorithm
    return algorithm.to_jwk(key.public_key(), as_dict=True) | {"kid": kid, "use": "sig", "alg": alg}


EC_JWK = public_jwk(EC_KEY, "ec-1", "ES384")
RSA_JWK = public_jwk(RSA_KEY, "rsa-1", "RS384")


def sign(
    path: str = STATUS,
    *,
    key: Any = EC_KEY,
    alg: str = "ES384",
    kid: str | None = "ec-1",
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A CDS client's JWT for a call to ``path``; a claim given as OMIT is left out."""
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "aud": f"{SERVER}{path}",
        "exp": NOW_S + 300,
        "iat": NOW_S,
        "jti": str(uuid.uuid4()),
    }
    payload.update(claims)
    payload = {name: value for name, value in payload.items() if value is not OMIT}
    header = ({"kid": kid} if kid is not None else {}) | (headers or {})
    return jwt.encode(payload, key, algorithm=alg, headers=header)


def unsigned(alg: str, secret: bytes = b"", path: str = STATUS) -> str:
    """A token PyJWT will not make: alg none, or HMAC keyed with a public key (the algorithm-confusion attack)."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    payload = {"iss": ISSUER, "aud": f"{SERVER}{path}", "exp": NOW_S + 300, "iat": NOW_S, "jti": "j-unsigned"}
    signing_input = f"{part({'alg': alg, 'typ': 'JWT', 'kid': 'ec-1'})}.{part(payload)}"
    signature = b"" if alg == "none" else hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- fakes ----------------------------------------------------------------------------------------------


@dataclass
class MemoryFeedback:
    committed: list[FeedbackRecord] = field(default_factory=list)
    pending: list[FeedbackRecord] = field(default_factory=list)

    def append(self, record: FeedbackRecord) -> None:
        self.pending.append(record)

    def entries(
        self, *, service_id: str | None = None, card: str | None = None, limit: int = 200
    ) -> list[FeedbackRecord]:
        return list(reversed(self.committed))[:limit]


class MemoryUnitOfWork:
    def __init__(self, log: MemoryFeedback) -> None:
        self.cds_feedback = log

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cds_feedback.pending.clear()

    def commit(self) -> None:
        self.cds_feedback.committed.extend(self.cds_feedback.pending)
        self.cds_feedback.pending.clear()


@dataclass
class KeyServer:
    """JWK Sets by URL on httpx.MockTransport; records every request."""

    sets: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    status: int = 200

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        found = self.sets.get(str(request.url))
        if self.status != 200 or found is None:
            return httpx.Response(self.status if self.status != 200 else 404)
        return httpx.Response(200, json=found)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handler))


def trusted(**overrides: Any) -> TrustedClients:
    clients = {
        ISSUER: TrustedClient(ISSUER, keys={"ec-1": EC_JWK, "rsa-1": RSA_JWK}),
        ROTATING_ISSUER: TrustedClient(ROTATING_ISSUER, jwks_urls=(JKU,)),
    }
    return TrustedClients(clients, **overrides)


@dataclass
class Service:
    client: TestClient
    feedback: MemoryFeedback
    keys: KeyServer
    clock: FixedClock


def make_service(clients: TrustedClients | None = None, keys: KeyServer | None = None) -> Service:
    keys = keys or KeyServer()
    log = MemoryFeedback()
    clock = FixedClock(NOW)
    deps = CdsDeps(unit_of_work=lambda: MemoryUnitOfWork(log), clock=clock, http_client=keys.client, clients=clients)
    app = FastAPI()
    app.include_router(cds_router(deps))
    return Service(TestClient(app), log, keys, clock)


@pytest.fixture
def service() -> Service:
    return make_service(trusted())


def status_request() -> dict[str, Any]:
    b12 = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]},
        "subject": {"reference": "Patient/example"},
        "effectiveDateTime": "2025-01-06T09:30:00Z",
        "valueQuantity": {"value": 148, "unit": "pg/mL", "system": "http://unitsofmeasure.org", "code": "pg/mL"},
    }
    prefetch: dict[str, Any] = dict.fromkeys(("mma", "hb", "mcv", "activeMeds", "administrations", "conditions"))
    prefetch["patient"] = {"resourceType": "Patient", "id": "example", "gender": "female", "birthDate": "1958-04-02"}
    prefetch["b12"] = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": b12}]}
    return {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": "example"},
        "prefetch": prefetch,
    }


CARD = "4e0a3a1e-3283-4575-ab82-028d55fe2719"
FEEDBACK_BODY = {"feedback": [{"card": CARD, "outcome": "overridden", "outcomeTimestamp": "2025-01-08T09:59:00Z"}]}


def assert_refused(response: httpx.Response) -> str:
    """A 401 in the router's error shape with a Bearer challenge; returns the reason."""
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    body = response.json()
    assert set(body) <= {"error", "problems"}
    assert body["error"]
    assert "\n" not in body["error"]
    return str(body["error"])


# --- accepted -------------------------------------------------------------------------------------------


def test_a_token_signed_with_the_clients_ec_p384_key_gets_cards(service: Service) -> None:
    response = service.client.post(STATUS, json=status_request(), headers=bearer(sign()))
    assert response.status_code == 200, response.text
    assert "confirmed" in response.json()["cards"][0]["summary"].lower()


def test_a_token_signed_with_the_clients_rsa_key_gets_its_feedback_stored(service: Service) -> None:
    token = sign(FEEDBACK, key=RSA_KEY, alg="RS384", kid="rsa-1")
    response = service.client.post(FEEDBACK, json=FEEDBACK_BODY, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert [r.outcome for r in service.feedback.committed] == ["overridden"]


def test_a_key_without_alg_verifies_the_algorithm_of_its_kind_the_token_names() -> None:
    # PyJWK alone would take an RSA key without "alg" for RS256 and refuse the spec's RS384.
    bare = {name: value for name, value in RSA_JWK.items() if name != "alg"}
    service = make_service(TrustedClients({ISSUER: TrustedClient(ISSUER, keys={"rsa-1": bare})}))
    for alg in ("RS384", "PS256"):
        token = sign(key=RSA_KEY, alg=alg, kid="rsa-1")
        assert service.client.post(STATUS, json=status_request(), headers=bearer(token)).status_code == 200


def test_aud_may_be_an_array_holding_the_endpoint_url(service: Service) -> None:
    token = sign(aud=["https://elsewhere.example.org/cds-services", f"{SERVER}{STATUS}"])
    assert service.client.post(STATUS, json=status_request(), headers=bearer(token)).status_code == 200


def test_a_minute_of_clock_skew_is_tolerated_on_exp_and_iat(service: Service) -> None:
    late = sign(exp=NOW_S - LEEWAY_S + 5, iat=NOW_S - 300)
    early = sign(iat=NOW_S + LEEWAY_S - 5)
    for token in (late, early):
        assert service.client.post(STATUS, json=status_request(), headers=bearer(token)).status_code == 200


def test_discovery_stays_open_when_clients_are_configured(service: Service) -> None:
    response = service.client.get("/cds-services")
    assert response.status_code == 200
    assert {s["id"] for s in response.json()["services"]} == {"b12-status", "b12-order-check"}


def test_without_trusted_clients_calls_are_accepted_as_before() -> None:
    service = make_service(None)
    assert service.client.post(STATUS, json=status_request()).status_code == 200
    assert service.client.post(FEEDBACK, json=FEEDBACK_BODY).status_code == 200
    assert len(service.feedback.committed) == 1


# --- refused --------------------------------------------------------------------------------------------


def _headers(make: Callable[[str], str]) -> Callable[[str], dict[str, str]]:
    """The headers of a call to a path, with the token ``make`` signs for that path."""
    return lambda path: bearer(make(path))


EC_PUBLIC_PEM = EC_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
REFUSALS = [
    pytest.param(lambda path: {}, "Authorization: Bearer", id="no Authorization header"),
    pytest.param(lambda path: {"Authorization": "Basic dXNlcjpwYXNz"}, "Bearer", id="not a bearer token"),
    pytest.param(_headers(lambda path: "not.a.jwt"), "well-formed", id="malformed token"),
    pytest.param(_headers(lambda path: sign(path, key=STRANGER_KEY)), "signature", id="signed with another key"),
    pytest.param(_headers(lambda path: sign(path, kid="ec-2")), "kid", id="unknown kid"),
    pytest.param(_headers(lambda path: sign(path, kid=None)), "kid", id="no kid"),
    pytest.param(_headers(lambda path: sign(path, headers={"typ": None})), "typ", id="no typ"),
    pytest.param(_headers(lambda path: sign(path, iss="https://other.example.org/")), "iss", id="unknown iss"),
    pytest.param(_headers(lambda path: sign(path, aud=f"{SERVER}/cds-services/other")), "aud", id="wrong aud"),
    pytest.param(_headers(lambda path: sign(path, aud=f"https://testserver{path}")), "aud", id="aud with https"),
    pytest.param(_headers(lambda path: sign(path, aud=OMIT)), "aud", id="no aud"),
    pytest.param(_headers(lambda path: sign(path, exp=NOW_S - LEEWAY_S - 1)), "expired", id="expired"),
    pytest.param(_headers(lambda path: sign(path, exp=OMIT)), "exp", id="no exp"),
    pytest.param(_headers(lambda path: sign(path, exp="tomorrow")), "exp", id="exp not a number"),
    pytest.param(_headers(lambda path: sign(path, exp=10**400)), "exp", id="exp beyond any float"),
    pytest.param(_headers(lambda path: sign(path, iat=NOW_S + LEEWAY_S + 1)), "future", id="iat in the future"),
    pytest.param(_headers(lambda path: sign(path, iat=OMIT)), "iat", id="no iat"),
    pytest.param(_headers(lambda path: sign(path, nbf=NOW_S + 3600)), "nbf", id="nbf in the future"),
    pytest.param(_headers(lambda path: sign(path, jti=OMIT)), "jti", id="no jti"),
    pytest.param(_headers(lambda path: sign(path, jti="")), "jti", id="empty jti"),
    pytest.param(_headers(lambda path: unsigned("none", path=path)), "alg", id="alg none"),
    pytest.param(
        _headers(lambda path: unsigned("HS256", EC_PUBLIC_PEM, path)), "alg", id="HS256 keyed with the public key"
    ),
    pytest.param(_headers(lambda path: sign(path, key=EC_KEY, alg="ES384", kid="rsa-1")), "alg", id="EC alg, RSA kid"),
    pytest.param(
        _headers(lambda path: sign(path, key=RSA_KEY, alg="RS256", kid="rsa-1")), "alg", id="RS256 for an RS384 key"
    ),
]


@pytest.mark.parametrize(("headers", "reason"), REFUSALS)
def test_a_call_without_a_valid_token_is_refused_with_401_and_nothing_is_stored(
    service: Service, headers: Callable[[str], dict[str, str]], reason: str
) -> None:
    status = service.client.post(STATUS, json=status_request(), headers=headers(STATUS))
    feedback = service.client.post(FEEDBACK, json=FEEDBACK_BODY, headers=headers(FEEDBACK))
    for response in (status, feedback):
        assert reason in assert_refused(response)
    assert service.feedback.committed == []
    assert service.feedback.pending == []


def test_a_missing_token_gets_a_challenge_without_an_error_code_and_a_bad_one_invalid_token(service: Service) -> None:
    missing = service.client.post(STATUS, json=status_request())
    bad = service.client.post(STATUS, json=status_request(), headers=bearer("not.a.jwt"))
    assert "error=" not in missing.headers["WWW-Authenticate"]
    assert 'error="invalid_token"' in bad.headers["WWW-Authenticate"]


def test_a_replayed_jti_is_refused_and_the_feedback_is_stored_once(service: Service) -> None:
    token = sign(FEEDBACK)
    first = service.client.post(FEEDBACK, json=FEEDBACK_BODY, headers=bearer(token))
    again = service.client.post(FEEDBACK, json=FEEDBACK_BODY, headers=bearer(token))
    assert first.status_code == 200
    assert "used before" in assert_refused(again)
    assert len(service.feedback.committed) == 1


def test_a_jti_is_per_issuer_so_two_clients_may_happen_to_use_the_same_one() -> None:
    keys = KeyServer({JKU: {"keys": [public_jwk(RSA_KEY, "r-1", "RS384")]}})
    service = make_service(trusted(), keys)
    ours = sign(jti="same")
    theirs = sign(key=RSA_KEY, alg="RS384", kid="r-1", iss=ROTATING_ISSUER, jti="same")
    for token in (ours, theirs):
        assert service.client.post(STATUS, json=status_request(), headers=bearer(token)).status_code == 200


def test_an_unauthenticated_call_is_refused_before_its_body_is_read(service: Service) -> None:
    response = service.client.post(STATUS, content=b"{not json", headers={"Content-Type": "application/json"})
    assert_refused(response)


def test_a_post_to_an_unknown_service_needs_a_token_too(service: Service) -> None:
    assert_refused(service.client.post("/cds-services/nope", json=status_request()))
    known = service.client.post("/cds-services/nope", json=status_request(), headers=bearer(sign("/cds-services/nope")))
    assert known.status_code == 404


# --- jku and fetched JWK Sets ---------------------------------------------------------------------------


def test_a_jku_configured_for_the_issuer_is_fetched_through_the_injected_client_and_cached() -> None:
    keys = KeyServer({JKU: {"keys": [public_jwk(EC_KEY, "rot-1", "ES384")]}})
    service = make_service(trusted(), keys)
    for _ in range(2):
        token = sign(iss=ROTATING_ISSUER, kid="rot-1", headers={"jku": JKU})
        assert service.client.post(STATUS, json=status_request(), headers=bearer(token)).status_code == 200
    assert [str(r.url) for r in keys.requests] == [JKU]
    service.clock.advance(minutes=6)  # past the cache's lifetime: fetched again
    token = sign(iss=ROTATING_ISSUER, kid="rot-1", exp=NOW_S + 900, iat=NOW_S + 360)
    assert service.client.post(STATUS, json=status_request(), headers=bearer(token)).status_code == 200
    assert len(keys.requests) == 2


def test_a_rotated_key_is_found_by_fetching_the_set_again_at_most_every_30_seconds() -> None:
    keys = KeyServer({JKU: {"keys": [public_jwk(EC_KEY, "rot-1", "ES384")]}})
    service = make_service(trusted(), keys)
    first = sign(iss=ROTATING_ISSUER, kid="rot-1")
    assert service.client.post(STATUS, json=status_request(), headers=bearer(first)).status_code == 200
    keys.sets[JKU] = {"keys": [public_jwk(RSA_KEY, "rot-2", "RS384")]}
    rotated = sign(key=RSA_KEY, alg="RS384", iss=ROTATING_ISSUER, kid="rot-2", exp=NOW_S + 900, iat=NOW_S + 40)
    assert_refused(service.client.post(STATUS, json=status_request(), headers=bearer(rotated)))  # cool-down
    service.clock.advance(seconds=31)
    assert service.client.post(STATUS, json=status_request(), headers=bearer(rotated)).status_code == 200
    assert len(keys.requests) == 2


@pytest.mark.parametrize("jku", [OTHER_JKU, JKU], ids=["anywhere", "another issuer's"])
def test_a_jku_not_configured_for_the_issuer_is_refused_without_any_fetch(jku: str) -> None:
    keys = KeyServer({OTHER_JKU: {"keys": [public_jwk(EC_KEY, "ec-1", "ES384")]}})
    service = make_service(trusted(), keys)
    response = service.client.post(STATUS, json=status_request(), headers=bearer(sign(headers={"jku": jku})))
    assert "jku" in assert_refused(response)
    assert keys.requests == []


def test_a_jwk_set_that_cannot_be_fetched_gives_401_and_is_not_refetched_at_once() -> None:
    keys = KeyServer(status=503)
    service = make_service(trusted(), keys)
    for _ in range(2):
        token = sign(iss=ROTATING_ISSUER, kid="rot-1")
        assert "could not be fetched" in assert_refused(
            service.client.post(STATUS, json=status_request(), headers=bearer(token))
        )
    assert len(keys.requests) == 1


def test_a_broken_http_client_while_verifying_gives_401_never_500(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> httpx.Client:
        raise RuntimeError("no sockets today")

    log = MemoryFeedback()
    deps = CdsDeps(lambda: MemoryUnitOfWork(log), FixedClock(NOW), http_client=broken, clients=trusted())
    app = FastAPI()
    app.include_router(cds_router(deps))
    token = sign(iss=ROTATING_ISSUER, kid="rot-1")
    with caplog.at_level(logging.ERROR, logger="b12.cds"):
        response = TestClient(app).post(STATUS, json=status_request(), headers=bearer(token))
    assert assert_refused(response) == "the JWT could not be verified"
    assert "no sockets today" not in response.text


def test_a_jwk_set_with_symmetric_or_repeated_keys_offers_none_of_them() -> None:
    secret = {"kty": "oct", "k": "c2VjcmV0", "kid": "oct-1"}
    twice = [public_jwk(EC_KEY, "dup", "ES384"), public_jwk(STRANGER_KEY, "dup", "ES384")]
    keys = KeyServer({JKU: {"keys": [secret, *twice]}})
    service = make_service(trusted(), keys)
    for token in (sign(iss=ROTATING_ISSUER, kid="dup"), unsigned("HS256", b"secret")):
        assert_refused(service.client.post(STATUS, json=status_request(), headers=bearer(token)))


# --- the specification's own example ----------------------------------------------------------------------

# CDS Hooks 2.0, "Trusting CDS Clients", Example: the JWK Set (public key) and the complete JWT of the example.
SPEC_JWKS = {
    "keys": [
        {
            "kty": "EC",
            "use": "sig",
            "crv": "P-384",
            "kid": "example-kid",
            "x": "46SDH7Znh821wblCBglA61sNE9ZrHYKKt3qRtRTmSXyOI_FIGBLWrWa0GPUkDCEk",
            "y": "XMcRuuoGW7CXjQdy-F5i3FeBE0x9hPLdeFdSoDd3ELmx404tLX0VRRcqzAsPhXcI",
            "alg": "ES384",
        }
    ]
}
SPEC_TOKEN = (
    "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCIsImtpZCI6ImV4YW1wbGUta2lkIiwiamt1IjoiaHR0cHM6Ly9maGlyLWVoci5leGFtcGxlLmNv"
    "bS9qd2tfdXJpIn0.eyJpc3MiOiJodHRwczovL2ZoaXItZWhyLmV4YW1wbGUuY29tLyIsImF1ZCI6Imh0dHBzOi8vY2RzLmV4YW1wbGUub3Jn"
    "L2Nkcy1zZXJ2aWNlcy9zb21lLXNlcnZpY2UiLCJleHAiOjE0MjI1Njg4NjAsImlhdCI6MTMxMTI4MDk3MCwianRpIjoiZWUyMmIwMjEtZTFi"
    "Ny00NjExLWJhNWItOGVlYzZhMzNhYzFlIiwidGVuYW50IjoiMmRkZDZjM2EtOGU5YS00NGM2LWEzMDUtNTIxMTFhZDMwMmEyIn0.d1WfLjGRK"
    "lcWB94l9do4cM8REXeYJLL6SGUBO8VHZhfM8mwKYP70EMxJ67War4TQblEpaQrp11wx5p7oPFm2ETYgCicS84vXWEIYTdjooZdooCSDf2L8-i"
    "4awdoUwiEb"
)


def test_the_specifications_example_token_verifies_with_its_example_jwk_set_fetched_from_its_jku() -> None:
    issuer, jku = "https://fhir-ehr.example.com/", "https://fhir-ehr.example.com/jwk_uri"
    keys = KeyServer({jku: SPEC_JWKS})
    clients = TrustedClients({issuer: TrustedClient(issuer, jwks_urls=(jku,))})
    before_exp = datetime(2015, 1, 29, 20, 0, tzinfo=UTC)  # the example's exp is 1422568860
    verifier = ClientVerifier(clients, clock=FixedClock(before_exp), http_client=keys.client)
    verified = verifier.verify(f"Bearer {SPEC_TOKEN}", "https://cds.example.org/cds-services/some-service")
    assert verified == VerifiedClient(
        issuer, "example-kid", "ee22b021-e1b7-4611-ba5b-8eec6a33ac1e", "2ddd6c3a-8e9a-44c6-a305-52111ad302a2"
    )
    with pytest.raises(CdsAuthError, match="aud"):
        verifier.verify(f"Bearer {SPEC_TOKEN}", "https://cds.example.org/cds-services")


# --- the endpoint URL (aud) -------------------------------------------------------------------------------


def test_aud_includes_the_path_the_app_is_mounted_at() -> None:
    log = MemoryFeedback()
    deps = CdsDeps(unit_of_work=lambda: MemoryUnitOfWork(log), clock=FixedClock(NOW), clients=trusted())
    inner = FastAPI()
    inner.include_router(cds_router(deps))
    outer = FastAPI()
    outer.mount("/b12", inner)
    client = TestClient(outer)
    mounted = sign(aud=f"{SERVER}/b12{STATUS}")
    assert client.post(f"/b12{STATUS}", json=status_request(), headers=bearer(mounted)).status_code == 200
    assert "aud" in assert_refused(client.post(f"/b12{STATUS}", json=status_request(), headers=bearer(sign())))


def test_a_configured_base_url_is_the_aud_behind_a_proxy() -> None:
    service = make_service(trusted(base_url="https://cds.example.org/b12"))
    public = sign(aud=f"https://cds.example.org/b12{STATUS}")
    assert service.client.post(STATUS, json=status_request(), headers=bearer(public)).status_code == 200
    assert_refused(service.client.post(STATUS, json=status_request(), headers=bearer(sign())))


# --- the trusted-clients file ---------------------------------------------------------------------------


def _toml_inline_table(data: dict[str, Any]) -> str:
    return "{ " + ", ".join(f"{name} = {json.dumps(value)}" for name, value in data.items()) + " }"


def test_the_clients_file_may_be_toml_or_json(tmp_path: Path) -> None:
    toml = tmp_path / "clients.toml"
    toml.write_text(
        f'[[clients]]\nissuer = "{ISSUER}"\nalgorithms = ["ES384"]\n'
        f"jwks = {{ keys = [{_toml_inline_table(EC_JWK)}] }}\n\n"
        f'[[clients]]\nissuer = "{ROTATING_ISSUER}"\njwks_url = "{JKU}"\n',
        encoding="utf-8",
    )
    as_json = tmp_path / "clients.json"
    as_json.write_text(
        json.dumps(
            {
                "clients": [
                    {"issuer": ISSUER, "algorithms": ["ES384"], "jwks": {"keys": [EC_JWK]}},
                    {"issuer": ROTATING_ISSUER, "jwks_url": [JKU]},
                ]
            }
        ),
        encoding="utf-8",
    )
    for path in (toml, as_json):
        clients = load_trusted_clients(path)
        assert clients.clients[ISSUER].algorithms == frozenset({"ES384"})
        assert set(clients.clients[ISSUER].keys) == {"ec-1"}
        assert clients.clients[ROTATING_ISSUER].jwks_urls == (JKU,)


PRIVATE_JWK = ECAlgorithm.to_jwk(EC_KEY, as_dict=True) | {"kid": "ec-1"}


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        pytest.param({"clients": []}, "clients: a non-empty list", id="no clients"),
        pytest.param({"clients": [{"issuer": ISSUER}]}, "clients[0]: give the client's public keys", id="no keys"),
        pytest.param(
            {"clients": [{"issuer": ISSUER, "jwks_uri": JKU}]}, "clients[0].jwks_uri: unknown setting", id="typo"
        ),
        pytest.param(
            {"clients": [{"issuer": ISSUER, "jwks_url": "http://ehr.example.org/jwks"}]},
            "an https:// URL",
            id="http URL",
        ),
        pytest.param(
            {"clients": [{"issuer": ISSUER, "jwks": {"keys": [PRIVATE_JWK]}}]},
            "clients[0].jwks.keys[0]: holds private key material",
            id="private key",
        ),
        pytest.param(
            {"clients": [{"issuer": ISSUER, "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "s"}]}}]},
            "symmetric",
            id="symmetric key",
        ),
        pytest.param(
            {"clients": [{"issuer": ISSUER, "jwks": {"keys": [EC_JWK | {"kid": None}]}}]},
            "clients[0].jwks.keys[0].kid: required",
            id="key without kid",
        ),
        pytest.param(
            {"clients": [{"issuer": ISSUER, "jwks_url": JKU, "algorithms": ["HS256"]}]},
            "algorithms: choose among",
            id="HMAC algorithm",
        ),
        pytest.param(
            {"clients": [{"issuer": ISSUER, "jwks_url": JKU}, {"issuer": ISSUER, "jwks_url": JKU}]},
            "clients[1].issuer: 'https://ehr.example.org/' is listed twice",
            id="issuer twice",
        ),
    ],
)
def test_a_bad_clients_file_is_refused_naming_the_file_and_the_problem(
    tmp_path: Path, data: dict[str, Any], problem: str
) -> None:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CdsClientsError) as raised:
        load_trusted_clients(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert problem in str(raised.value)


def test_the_example_file_of_the_documentation_is_a_valid_clients_file(tmp_path: Path) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "cds-hooks.md").read_text(encoding="utf-8")
    example = tmp_path / "cds-clients.toml"
    example.write_text(docs.split("```toml\n", 1)[1].split("```", 1)[0], encoding="utf-8")
    assert len(load_trusted_clients(example).clients) == 2


def test_a_clients_file_that_is_not_json_or_toml_is_refused(tmp_path: Path) -> None:
    for name, text in (("clients.yaml", "clients: []"), ("clients.json", "{oops"), ("clients.toml", "[[clients")):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(CdsClientsError, match=re.escape(str(path))):
            load_trusted_clients(path)
    with pytest.raises(CdsClientsError, match="cannot be read"):
        load_trusted_clients(tmp_path / "missing.json")


def test_every_problem_of_a_clients_file_is_reported_at_once() -> None:
    with pytest.raises(CdsClientsError) as raised:
        parse_trusted_clients({"clients": [{"issuer": ""}, {"issuer": ISSUER}], "extra": 1}, "f.json")
    assert len(raised.value.problems) == 3


# --- the composition root -------------------------------------------------------------------------------


def _app(tmp_path: Path, **settings: Any) -> tuple[FastAPI, MemoryFeedback]:
    log = MemoryFeedback()
    config = Settings(secret_key="s" * 40, data_dir=tmp_path, **settings)
    uow = FakeUnitOfWork()
    app = create_app(
        config, uow_factory=lambda: uow, clock=FixedClock(NOW), cds_unit_of_work=lambda: MemoryUnitOfWork(log)
    )
    return app, log


def test_the_settings_read_the_clients_file_from_b12_cds_clients(tmp_path: Path) -> None:
    settings = Settings.from_env({"B12_CDS_CLIENTS": "/etc/b12/cds-clients.toml", "B12_SECRET_KEY": "s" * 40})
    assert settings.cds_clients == Path("/etc/b12/cds-clients.toml")
    assert Settings.from_env({"B12_SECRET_KEY": "s" * 40}).cds_clients is None


def test_the_web_app_with_a_clients_file_authenticates_cds_calls(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps({"clients": [{"issuer": ISSUER, "jwks": {"keys": [EC_JWK]}}]}), encoding="utf-8")
    app, log = _app(tmp_path, cds_clients=path)
    with TestClient(app) as client:
        assert client.get("/cds-services").status_code == 200
        assert_refused(client.post(FEEDBACK, json=FEEDBACK_BODY))
        assert client.post(FEEDBACK, json=FEEDBACK_BODY, headers=bearer(sign(FEEDBACK))).status_code == 200
    assert len(log.committed) == 1


def test_the_web_app_without_a_clients_file_warns_once_that_cds_clients_are_not_authenticated(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="b12.web"):
        app, log = _app(tmp_path)
    warned = [r for r in caplog.records if "not authenticated" in r.getMessage()]
    assert len(warned) == 1
    with TestClient(app) as client:
        assert client.post(FEEDBACK, json=FEEDBACK_BODY).status_code == 200
    assert len(log.committed) == 1


def test_the_web_app_refuses_to_start_on_a_bad_clients_file(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps({"clients": [{"issuer": ISSUER}]}), encoding="utf-8")
    with pytest.raises(CdsClientsError, match=re.escape(str(path))):
        _app(tmp_path, cds_clients=path)
