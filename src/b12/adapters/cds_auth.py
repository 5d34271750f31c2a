"""Trusting CDS Clients (CDS Hooks 2.0, "Security and Safety"): the signed JWT a CDS client sends, verified.

Contract:

- Configuration: :class:`TrustedClients`, read from a JSON or TOML file by :func:`load_trusted_clients` (format in
  ``docs/cds-hooks.md``): per client its issuer (``iss``) and its public keys, an inline JWK Set and/or the URLs of
  its JWK Set. A bad file is refused whole, every problem named with its path (``clients[1].jwks_url``).
- :meth:`ClientVerifier.verify` takes the ``Authorization`` header and the URL of the endpoint called, and returns
  the :class:`VerifiedClient` or raises :class:`CdsAuthError` with a one-line reason that names no key material.
  Any other failure inside verification is turned into a :class:`CdsAuthError` too: a caller answers 401, never 500.
- Checked: header ``alg`` (asymmetric only), ``typ`` and ``kid``; the signature, with the key ``kid`` names in the
  issuer's keys; ``iss`` configured; ``aud`` the endpoint's URL; ``exp`` not passed and ``iat`` (and ``nbf``) not
  in the future, with :data:`LEEWAY_S` of clock skew; ``jti`` present and not used before by that issuer.
- A ``jku`` is fetched only when it is one of the JWK Set URLs configured for the token's issuer; any other is
  refused before any request. JWK Sets are fetched through the injected httpx client factory, cached
  :data:`JWKS_TTL_S` seconds, refetched at most every :data:`JWKS_REFRESH_S` seconds for an unknown ``kid`` (key
  rotation) or after a failure. Time comes from the injected clock only.

No FastAPI here: the router (``cds_hooks``) builds the endpoint URL from the request and answers 401.
PyJWT's ``PyJWKClient`` is not used: it fetches with urllib and keeps time with ``time.monotonic``, so neither the
httpx client nor the clock could be injected.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from jwt.exceptions import InvalidKeyError, InvalidSignatureError, PyJWTError

from b12.domain.errors import B12Error
from b12.ports import Clock

__all__ = [
    "ALGORITHMS",
    "JWKS_REFRESH_S",
    "JWKS_TTL_S",
    "LEEWAY_S",
    "CdsAuthError",
    "CdsClientsError",
    "ClientVerifier",
    "JtiLog",
    "JwksCache",
    "TrustedClient",
    "TrustedClients",
    "VerifiedClient",
    "load_trusted_clients",
    "parse_trusted_clients",
]

log = logging.getLogger("b12.cds")

# "JWTs SHALL NOT be signed using the `none` algorithm" and "SHALL NOT be signed using any symmetric algorithm";
# "both ES384 and RS384 are RECOMMENDED". The other asymmetric algorithms of RFC 7518 on RSA and NIST curves are
# accepted too; EdDSA is not (no CDS client is known to use it).
_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_ALGORITHMS: Mapping[str, str] = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
ALGORITHMS: frozenset[str] = _RSA_ALGORITHMS | frozenset(_EC_ALGORITHMS.values())

LEEWAY_S = 60  # clock skew allowed on exp, iat and nbf
JWKS_TTL_S = 300  # how long a fetched JWK Set is used before it is fetched again
JWKS_REFRESH_S = 30  # the least time between two fetches of one URL (unknown kid, failed fetch)
JWKS_MAX_BYTES = 256 * 1024
_PURGE_EVERY_S = 60  # how often the replay log drops the jti of expired tokens

_PUBLIC_MEMBERS: Mapping[str, tuple[str, ...]] = {"RSA": ("n", "e"), "EC": ("crv", "x", "y")}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_CLIENT_FIELDS = frozenset({"issuer", "jwks", "jwks_url", "algorithms"})
_FILE_FIELDS = frozenset({"clients", "base_url"})

JWK = Mapping[str, Any]

# --- errors -------------------------------------------------------------------------------------------------


class CdsAuthError(B12Error, PermissionError):
    """A CDS client that could not be authenticated; ``reason`` is one line, safe to send back."""

    def __init__(self, reason: str, *, missing: bool = False, issuer: str | None = None) -> None:
        self.reason = reason
        self.missing = missing  # no credentials at all (RFC 6750 §3.1: the challenge then names no error)
        self.issuer = issuer  # for the log, when the token named a trusted one
        super().__init__(reason)


class CdsClientsError(B12Error, ValueError):
    """A trusted-clients file that cannot be used; names the file and every problem with its path."""

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems))


# --- configuration ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrustedClient:
    """A CDS client b12 trusts: its issuer, its public keys (inline, by kid) and its JWK Set URLs.

    Without a ``jku`` header the key is looked up in ``keys``, then in the sets at ``jwks_urls`` (the spec's
    "communicate the JWK Set out-of-band"); with one, only that URL is used, and only if it is in ``jwks_urls``.
    """

    issuer: str
    keys: Mapping[str, JWK] = field(default_factory=dict)
    jwks_urls: tuple[str, ...] = ()
    algorithms: frozenset[str] = ALGORITHMS

    def __post_init__(self) -> None:
        problems = []
        if not self.issuer:
            problems.append("issuer: empty")
        if not self.keys and not self.jwks_urls:
            problems.append("give the client's public keys: jwks (inline JWK Set) or jwks_url")
        if not self.algorithms or not self.algorithms <= ALGORITHMS:
            problems.append(f"algorithms: choose among {', '.join(sorted(ALGORITHMS))}")
        for kid, key in self.keys.items():
            problems.extend(f"jwks: kid {kid!r}: {p}" for p in _key_problems(key, config=True))
        for url in self.jwks_urls:
            problem = _url_problem(url)
            if problem:
                problems.append(f"jwks_url {url!r}: {problem}")
        if problems:
            raise CdsClientsError(f"trusted CDS client {self.issuer!r}", problems)


@dataclass(frozen=True, slots=True)
class TrustedClients:
    """The CDS clients b12 trusts, by issuer; ``base_url``, when set, is b12's public CDS base URL (the
    ``{baseUrl}`` of ``{baseUrl}/cds-services/{id}``) for the ``aud`` check, instead of each request's own URL."""

    clients: Mapping[str, TrustedClient]
    base_url: str | None = None

    def __post_init__(self) -> None:
        if not self.clients:
            no_clients = "no clients: list at least one, or unset B12_CDS_CLIENTS to run unauthenticated"
            raise CdsClientsError("trusted CDS clients", [no_clients])
        if self.base_url is not None:
            problem = _url_problem(self.base_url)
            if problem:
                raise CdsClientsError("trusted CDS clients", [f"base_url: {problem}"])

    def client(self, issuer: str) -> TrustedClient | None:
        return self.clients.get(issuer)


def load_trusted_clients(path: Path) -> TrustedClients:
    """The trusted clients listed in ``path``, a ``.json`` or ``.toml`` file (see ``docs/cds-hooks.md``)."""
    source = str(path)
    kind = path.suffix.lower()
    if kind not in (".json", ".toml"):
        raise CdsClientsError(source, ["name a .json or .toml file"])
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise CdsClientsError(source, [f"cannot be read ({error.strerror or type(error).__name__})"]) from None
    except UnicodeDecodeError:
        raise CdsClientsError(source, ["is not UTF-8 text"]) from None
    try:
        data: Any = tomllib.loads(text) if kind == ".toml" else json.loads(text)
    except ValueError as error:  # tomllib.TOMLDecodeError and json.JSONDecodeError are ValueErrors
        raise CdsClientsError(source, [f"not valid {kind[1:].upper()}: {error}"]) from None
    return parse_trusted_clients(data, source)


def parse_trusted_clients(data: Any, source: str = "trusted CDS clients") -> TrustedClients:
    """:class:`TrustedClients` from the parsed file; every problem is collected, then reported at once."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise CdsClientsError(source, ["the top level must be an object (a table) with a 'clients' list"])
    problems.extend(f"{name}: unknown setting" for name in sorted(set(data) - _FILE_FIELDS))
    base_url = data.get("base_url")
    if base_url is not None and not isinstance(base_url, str):
        problems.append("base_url: a URL string")
        base_url = None
    entries = data.get("clients")
    if not isinstance(entries, list) or not entries:
        problems.append("clients: a non-empty list of trusted clients")
        entries = []
    clients: dict[str, TrustedClient] = {}
    for index, entry in enumerate(entries):
        where = f"clients[{index}]"
        client = _client(entry, where, problems)
        if client is None:
            continue
        if client.issuer in clients:
            problems.append(f"{where}.issuer: {client.issuer!r} is listed twice")
        clients[client.issuer] = client
    if not problems:
        try:
            return TrustedClients(clients, base_url.rstrip("/") if base_url else None)
        except CdsClientsError as error:
            problems.extend(error.problems)
    raise CdsClientsError(source, problems)


def _client(entry: Any, where: str, problems: list[str]) -> TrustedClient | None:
    if not isinstance(entry, dict):
        problems.append(f"{where}: an object with issuer and jwks or jwks_url")
        return None
    found = len(problems)
    problems.extend(f"{where}.{name}: unknown setting" for name in sorted(set(entry) - _CLIENT_FIELDS))
    issuer = entry.get("issuer")
    if not isinstance(issuer, str) or not issuer:
        problems.append(f"{where}.issuer: the client's iss, a non-empty string")
    urls = entry.get("jwks_url", [])
    urls = [urls] if isinstance(urls, str) else urls
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        problems.append(f"{where}.jwks_url: a URL or a list of URLs")
        urls = []
    algorithms = entry.get("algorithms", sorted(ALGORITHMS))
    if not isinstance(algorithms, list) or not all(isinstance(a, str) for a in algorithms):
        problems.append(f"{where}.algorithms: a list of algorithm names")
        algorithms = sorted(ALGORITHMS)
    keys = _inline_keys(entry.get("jwks"), f"{where}.jwks", problems)
    if len(problems) > found:
        return None
    try:
        return TrustedClient(str(issuer), keys, tuple(urls), frozenset(algorithms))
    except CdsClientsError as error:
        problems.extend(f"{where}: {p}" for p in error.problems)
        return None


def _inline_keys(jwks: Any, where: str, problems: list[str]) -> dict[str, JWK]:
    if jwks is None:
        return {}
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        problems.append(f"{where}: a JWK Set, an object with a non-empty 'keys' list")
        return {}
    keys: dict[str, JWK] = {}
    for index, key in enumerate(jwks["keys"]):
        path = f"{where}.keys[{index}]"
        if not isinstance(key, dict):
            problems.append(f"{path}: a JWK object")
            continue
        kid = key.get("kid")
        if not isinstance(kid, str) or not kid:
            # "kid ... MUST be unique within the CDS Client's JWK Set": a key without one can never be chosen.
            problems.append(f"{path}.kid: required (the JWT header's kid chooses the key)")
            continue
        if kid in keys:
            problems.append(f"{path}.kid: {kid!r} twice in the set (a kid MUST be unique within the JWK Set)")
            continue
        problems.extend(f"{path}: {p}" for p in _key_problems(key, config=True))
        keys[kid] = key
    return keys


def _url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "not a URL"
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1"):
        return None  # development on one machine; anything else must be HTTPS
    return "an https:// URL (http:// only on localhost)"


# --- keys ---------------------------------------------------------------------------------------------------


def _key_problems(key: JWK, *, config: bool) -> list[str]:
    kty = key.get("kty")
    if kty == "oct":
        return ["a symmetric key (kty oct): CDS Hooks JWTs SHALL NOT use symmetric algorithms"]
    if not isinstance(kty, str) or kty not in _PUBLIC_MEMBERS:
        return [f"kty {kty!r} is not supported (RSA or EC public keys)"]
    problems = []
    if config and _PRIVATE_MEMBERS & set(key):
        problems.append("holds private key material: give the client's public key only")
    if key.get("use") not in (None, "sig"):
        problems.append("use is not 'sig'")
    alg = key.get("alg")
    if alg is not None and not (isinstance(alg, str) and alg in ALGORITHMS and _fits(alg, key)):
        problems.append(f"alg {alg!r} is not an accepted algorithm for this key")
    if kty == "EC" and str(key.get("crv")) not in _EC_ALGORITHMS:
        problems.append(f"crv {key.get('crv')!r} is not supported (P-256, P-384, P-521)")
    if problems:
        return problems
    try:
        _pyjwk(key, str(alg) if alg else _default_algorithm(key))
    except PyJWTError as error:
        return [f"not a usable public key ({type(error).__name__})"]
    return []


def _fits(alg: str, key: JWK) -> bool:
    """Whether ``alg`` signs with this kind of key: RS*/PS* with RSA, ES* with the EC key's own curve."""
    if key.get("kty") == "RSA":
        return alg in _RSA_ALGORITHMS
    return key.get("kty") == "EC" and _EC_ALGORITHMS.get(str(key.get("crv"))) == alg


def _default_algorithm(key: JWK) -> str:
    return "RS384" if key.get("kty") == "RSA" else _EC_ALGORITHMS[str(key.get("crv"))]


def _pyjwk(key: JWK, alg: str) -> jwt.PyJWK:
    """The key with its public members only, bound to ``alg`` (PyJWK would default an RSA key to RS256)."""
    public = {"kty": key["kty"], **{m: key[m] for m in _PUBLIC_MEMBERS[str(key["kty"])] if m in key}}
    pyjwk = jwt.PyJWK(public, algorithm=alg)
    message = pyjwk.Algorithm.check_key_length(pyjwk.Algorithm.prepare_key(pyjwk.key))
    if message:
        raise InvalidKeyError("key too short")
    return pyjwk


# --- JWK Sets fetched -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Fetched:
    at: float
    keys: Mapping[str, JWK] | None  # None: the fetch failed


class _JwksError(Exception):
    pass


class JwksCache:
    """JWK Sets fetched from the configured URLs, by URL, kept :data:`JWKS_TTL_S` seconds (clock injected)."""

    def __init__(
        self,
        http_client: Callable[[], httpx.Client],
        clock: Clock,
        ttl_s: float = JWKS_TTL_S,
        refresh_s: float = JWKS_REFRESH_S,
    ) -> None:
        self._http_client = http_client
        self._clock = clock
        self._ttl_s = ttl_s
        self._refresh_s = refresh_s
        self._entries: dict[str, _Fetched] = {}
        self._lock = threading.Lock()  # one fetch at a time: a burst of calls triggers a single request

    def key(self, url: str, kid: str) -> JWK | None:
        """The key ``kid`` of the set at ``url`` (None when the set has none); raises CdsAuthError when the set
        cannot be had."""
        with self._lock:
            now = self._clock.now().timestamp()
            entry = self._entries.get(url)
            if self._due(entry, kid, now):
                try:
                    entry = _Fetched(now, self._fetch(url))
                except _JwksError as error:
                    log.warning("CDS Hooks: JWK Set %s could not be fetched: %s", url, error)
                    entry = _Fetched(now, None)
                self._entries[url] = entry
            assert entry is not None
        if entry.keys is None:
            raise CdsAuthError("the issuer's JWK Set could not be fetched")
        return entry.keys.get(kid)

    def _due(self, entry: _Fetched | None, kid: str, now: float) -> bool:
        if entry is None:
            return True
        age = now - entry.at
        if entry.keys is None:
            return age >= self._refresh_s  # a failure is retried after the cool-down, not on every call
        if age >= self._ttl_s:
            return True
        return kid not in entry.keys and age >= self._refresh_s  # key rotation: an unknown kid refetches

    def _fetch(self, url: str) -> dict[str, JWK]:
        body = bytearray()
        try:
            with (
                self._http_client() as client,
                client.stream("GET", url, headers={"Accept": "application/json"}) as response,
            ):
                if response.status_code != 200:
                    raise _JwksError(f"answered {response.status_code}")
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > JWKS_MAX_BYTES:
                        raise _JwksError(f"larger than {JWKS_MAX_BYTES} bytes")
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise _JwksError(type(error).__name__) from None
        try:
            data = json.loads(body)
        except ValueError:
            raise _JwksError("not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise _JwksError("not a JWK Set")
        keys: dict[str, JWK] = {}
        repeated: set[str] = set()
        for key in data["keys"]:
            kid = key.get("kid") if isinstance(key, dict) else None
            if not isinstance(kid, str) or _key_problems(key, config=False):
                continue  # not a signing key b12 can use: left out, as RFC 7517 §5 asks of unknown members
            if kid in keys:
                repeated.add(kid)
            keys[kid] = key
        # "This identifier MUST be unique within the CDS Client's JWK Set": an ambiguous kid chooses no key.
        return {kid: key for kid, key in keys.items() if kid not in repeated}


# --- replay -------------------------------------------------------------------------------------------------


class JtiLog:
    """The ``jti`` of every accepted token, per issuer, kept until the token expires.

    In memory, per process: with several workers (or after a restart) a token could be replayed to another
    process; a deployment with several workers needs a shared store (the database, Redis) in its place.
    """

    def __init__(self) -> None:
        self._until: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._purged = -math.inf

    def first_use(self, issuer: str, jti: str, until: float, now: float) -> bool:
        """Record ``jti`` of ``issuer`` until ``until``; False when it was already recorded (a replay)."""
        with self._lock:
            if now - self._purged >= _PURGE_EVERY_S:
                self._until = {k: t for k, t in self._until.items() if t > now}
                self._purged = now
            seen = self._until.get((issuer, jti))
            if seen is not None and seen > now:
                return False
            self._until[(issuer, jti)] = until
            return True


# --- verification -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifiedClient:
    """Who called: the trusted issuer, the key used, the token's id and, when sent, the ``tenant``."""

    issuer: str
    kid: str
    jti: str
    tenant: str | None = None


class ClientVerifier:
    """Verifies the ``Authorization: Bearer`` JWT of a CDS call against :class:`TrustedClients`."""

    def __init__(
        self,
        clients: TrustedClients,
        *,
        clock: Clock,
        http_client: Callable[[], httpx.Client],
        jwks: JwksCache | None = None,
        seen: JtiLog | None = None,
    ) -> None:
        self.clients = clients
        self._clock = clock
        self._jwks = jwks or JwksCache(http_client, clock)
        self._seen = seen or JtiLog()

    def verify(self, authorization: str | None, audience: str) -> VerifiedClient:
        """The client that signed the bearer token for a call to ``audience`` (the endpoint's URL)."""
        try:
            return self._verify(authorization, audience)
        except CdsAuthError:
            raise
        except Exception:
            # Whatever a hostile token or a key set does to the libraries, the caller answers 401, not 500.
            log.exception("CDS Hooks: unexpected error while verifying a client's JWT")
            raise CdsAuthError("the JWT could not be verified") from None

    def _verify(self, authorization: str | None, audience: str) -> VerifiedClient:
        token = _bearer(authorization)
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except PyJWTError:
            raise CdsAuthError("the bearer token is not a well-formed JWT") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALGORITHMS:
            # "JWTs SHALL NOT be signed using the `none` algorithm" ... "SHALL NOT be signed using any symmetric
            # algorithm": refused before any key is looked at, so a public key can never serve as an HMAC secret.
            raise CdsAuthError(f"the JWT's alg is not accepted: use one of {', '.join(sorted(ALGORITHMS))}")
        # JWT header "typ | REQUIRED | string | Fixed value: `JWT`"
        if not isinstance(header.get("typ"), str) or header["typ"].upper() != "JWT":
            raise CdsAuthError("the JWT header's typ must be JWT")
        # "kid | REQUIRED | ... The identifier of the key-pair used to sign this JWT"
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise CdsAuthError("the JWT header has no kid")
        issuer = unverified.get("iss")
        client = self.clients.client(issuer) if isinstance(issuer, str) else None
        if client is None:
            # "CDS Services SHOULD limit the CDS Clients they trust by maintaining an allowlist of iss and jku urls"
            raise CdsAuthError("the JWT's iss is not a trusted CDS client")
        if alg not in client.algorithms:
            raise CdsAuthError("the JWT's alg is not accepted for this issuer", issuer=client.issuer)
        key = self._key(client, kid, header.get("jku"))
        if key.get("alg") not in (None, alg) or not _fits(alg, key):
            raise CdsAuthError("the JWT's alg does not match the key its kid names", issuer=client.issuer)
        try:
            claims = jwt.decode(
                token,
                key=_pyjwk(key, alg),
                algorithms=[alg],
                # Times are checked below on the injected clock (PyJWT reads the system clock); aud and iss too,
                # to answer with a precise reason.
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                    "verify_iss": False,
                    "enforce_minimum_key_length": True,
                },
            )
        except InvalidSignatureError:
            raise CdsAuthError("the JWT's signature does not verify", issuer=client.issuer) from None
        except PyJWTError:
            reason = "the JWT could not be verified with the key its kid names"
            raise CdsAuthError(reason, issuer=client.issuer) from None
        return self._accept(client, kid, claims, audience)

    def _key(self, client: TrustedClient, kid: str, jku: Any) -> JWK:
        if jku is not None:
            # "jku | OPTIONAL | url | The URL to the JWK Set": only URLs configured for this issuer are ever fetched,
            # otherwise a token could make b12 fetch any URL and trust whatever keys it finds there.
            if jku not in client.jwks_urls:
                raise CdsAuthError("the JWT's jku is not a JWK Set URL configured for its issuer", issuer=client.issuer)
            key = self._jwks.key(jku, kid)
        else:
            # "If the jku header field is omitted, the CDS Client and CDS Service SHALL communicate the JWK Set
            # out-of-band": the inline set, then the sets at the configured URLs.
            key = client.keys.get(kid)
            for url in client.jwks_urls:
                if key is not None:
                    break
                key = self._jwks.key(url, kid)
        if key is None:
            raise CdsAuthError("no key of this issuer has the JWT's kid", issuer=client.issuer)
        return key

    def _accept(self, client: TrustedClient, kid: str, claims: Mapping[str, Any], audience: str) -> VerifiedClient:
        issuer = client.issuer
        if claims.get("iss") != issuer:  # the signed payload is the one the client was chosen from
            raise CdsAuthError("the JWT's iss is not a trusted CDS client")
        # "aud ... MUST be the URL of the CDS Service endpoint being invoked" (a string or an array of strings)
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not any(isinstance(a, str) and _same_url(a, audience) for a in auds):
            raise CdsAuthError(f"the JWT's aud is not this endpoint ({audience})", issuer=issuer)
        now = self._clock.now().timestamp()
        exp, iat, nbf = (_seconds(claims, name) for name in ("exp", "iat", "nbf"))
        if exp is None:
            raise CdsAuthError("the JWT's exp is missing or not a number of seconds", issuer=issuer)
        if iat is None:
            raise CdsAuthError("the JWT's iat is missing or not a number of seconds", issuer=issuer)
        if now >= exp + LEEWAY_S:
            raise CdsAuthError("the JWT has expired", issuer=issuer)
        if iat > now + LEEWAY_S:
            raise CdsAuthError("the JWT's iat is in the future", issuer=issuer)
        if "nbf" in claims and (nbf is None or nbf > now + LEEWAY_S):
            raise CdsAuthError("the JWT is not valid yet (nbf)", issuer=issuer)
        # "jti | REQUIRED | string | A nonce ... (used to protect against replay attacks)"
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise CdsAuthError("the JWT has no jti", issuer=issuer)
        if not self._seen.first_use(issuer, jti, exp + LEEWAY_S, now):
            raise CdsAuthError("the JWT's jti has been used before (replay)", issuer=issuer)
        tenant = claims.get("tenant")
        return VerifiedClient(issuer, kid, jti, tenant if isinstance(tenant, str) else None)


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        # "the request MUST include an Authorization header presenting the JWT as a “Bearer” token"
        raise CdsAuthError("an Authorization: Bearer header with the CDS client's signed JWT is required", missing=True)
    return token.strip()


def _seconds(claims: Mapping[str, Any], name: str) -> float | None:
    """A NumericDate claim; None when absent, not a number, or not finite (Python's JSON reads NaN/Infinity)."""
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # an integer beyond any float
        return None
    return seconds if math.isfinite(seconds) else None


def _same_url(a: str, b: str) -> bool:
    """Equal URLs, scheme and host compared case-insensitively and a default port left out."""
    key = _url_key(a)
    return key is not None and key == _url_key(b)


def _url_key(url: str) -> tuple[str, str, int | None, str, str] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # e.g. a port out of range or a broken IPv6 host: equal to nothing
        return None
    scheme = parts.scheme.lower()
    if port == {"https": 443, "http": 80}.get(scheme):
        port = None
    return scheme, (parts.hostname or "").lower(), port, parts.path, parts.query
