"""Browser-test helpers: the real app served by ``b12 serve --demo``, Debian's chromium, axe-core, screenshots.

- :func:`start_server` runs ``b12 serve --demo`` in a subprocess on a free loopback port with a temporary SQLite
  database and data folder, and returns once ``GET /healthz`` answers 200 (the app's own "ready").
- :func:`launch_chromium` starts Debian's chromium (``B12_CHROMIUM``, default ``/usr/bin/chromium``; Playwright's
  browser downloads are not used — ``scripts/install-chromium.sh`` installs it, and ``make test`` runs that).
- :func:`browsing` opens a page in a fresh context (own cookies) and fails if the page reported a problem
  (:class:`PageProblems`: a script error, a CSP refusal, a failed request, a 5xx).
- :func:`check_axe` runs the vendored axe-core (``vendor/axe.min.js``, version :data:`AXE_VERSION`) in the page and
  fails on any violation of impact moderate, serious or critical (:data:`FAILING`); minor ones are only printed and
  returned. The app's Content-Security-Policy (``script-src 'self'``) refuses the inline script that
  ``add_script_tag(path=...)`` writes, so each context serves the vendored file at a same-origin address
  (:data:`AXE_URL`, answered by Playwright's router, never by the app) and the page loads it from there: axe
  checks the page under its real CSP. A page whose policy refuses even that (the printable summary allows no
  script) is checked in a twin context that ignores CSP (``bypass_csp``), on the same address with the same
  cookies.
- :func:`check_no_sideways_scroll` fails if the page is wider than a phone's screen (390 px), naming the elements
  that stick out.
- :func:`capture` saves a full-page screenshot at desktop (1280×900) and phone (390×844) width into
  ``screenshots/`` (git-ignored output).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright
from playwright.sync_api import Error as PlaywrightError

HERE = Path(__file__).parent
CHROMIUM = Path(os.environ.get("B12_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
AXE_JS = HERE / "vendor" / "axe.min.js"
AXE_VERSION = "4.14.1"  # npm pack axe-core@4.14.1; the file keeps its MPL-2.0 header (licence: vendor/axe.LICENSE.txt)
AXE_URL = "/__e2e__/axe.min.js"  # answered by the browser context's router from AXE_JS
# Moderate fails too: best-practice rules such as landmark-unique (two regions a screen reader announces with the
# same name) are moderate, and every page passes them. Minor is left out so that a new axe release's nit does
# not block a page; it is still printed.
FAILING = frozenset({"moderate", "serious", "critical"})
SCREENSHOTS = HERE / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


# --- the app ----------------------------------------------------------------------------------------------


@dataclass
class Server:
    """A running ``b12 serve``: its address, process and log file."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    """A TCP port free on loopback right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(folder: Path, *, timeout_s: float = 30.0) -> Server:
    """``b12 serve --demo`` on a free loopback port, with its database and data folder under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    database = f"sqlite:///{(folder / 'b12.sqlite3').as_posix()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("B12_")}
    env.update(B12_DATA_DIR=str(folder / "data"), PYTHONUNBUFFERED="1")
    command = [str(Path(sys.executable).with_name("b12")), "serve", "--demo", "--port", str(port)]
    log_path = folder / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--database", database], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"b12 serve exited with {process.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    stop_server(server)
    raise RuntimeError(f"b12 serve did not answer /healthz with 200 within {timeout_s} s:\n{server.log()}")


def stop_server(server: Server) -> None:
    """Stop the server (SIGTERM, then SIGKILL after 10 s) and wait for it."""
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


# --- the browser ------------------------------------------------------------------------------------------


def launch_chromium(playwright: Playwright) -> Browser:
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run `bash scripts/install-chromium.sh` (make test does)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def new_context(browser: Browser, base_url: str, **options: Any) -> BrowserContext:
    """A fresh context (own cookies) at desktop size that can load axe-core from :data:`AXE_URL`."""
    context = browser.new_context(base_url=base_url, viewport=DESKTOP, locale="en-GB", **options)
    context.set_default_timeout(10_000)
    context.route(f"**{AXE_URL}", lambda route: route.fulfill(path=AXE_JS, content_type="text/javascript"))
    return context


@dataclass
class PageProblems:
    """What the page reported that a user would not see: uncaught script errors, CSP refusals, failed requests,
    server errors (5xx) and missing style sheets, scripts or pictures. Not problems: htmx's own console messages
    (it logs the requests it aborts on purpose, ``hx-sync``), chromium's note on every 4xx answer (a refused form
    is a 422, an unknown page a 404), and a page's refusal of the test's own axe-core script (:func:`check_axe`
    then checks it another way)."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.errors.append(f"script error: {error}"))
        page.on("console", self._console)
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        expected = ("htmx:", "Failed to load resource: the server responded with a status of 4")
        if message.type == "error" and not message.text.startswith(expected) and AXE_URL not in message.text:
            self.errors.append(f"console: {message.text}")

    def _response(self, response: Any) -> None:
        # A page or form answer of 4xx is the app speaking (refused form, unknown page); a missing style sheet,
        # script or picture is a fault.
        subresource = response.request.resource_type in {"stylesheet", "script", "image", "font"}
        if response.status >= 500 or (response.status >= 400 and subresource):
            self.errors.append(f"{response.status} from {response.url}")

    def _failed(self, request: Any) -> None:
        # A navigation or an htmx request replaced by a newer one is aborted by the browser: not a fault.
        if request.failure != "net::ERR_ABORTED" and AXE_URL not in request.url:
            self.errors.append(f"request failed: {request.method} {request.url} ({request.failure})")


@contextmanager
def browsing(browser: Browser, base_url: str, **options: Any) -> Iterator[Page]:
    """A page in a fresh context (``options`` as for ``new_context``, e.g. ``storage_state``); on leaving, the
    context is closed and any problem the page reported fails the test."""
    context = new_context(browser, base_url, **options)
    page = context.new_page()
    problems = PageProblems()
    problems.watch(page)
    try:
        yield page
    finally:
        context.close()
    assert not problems.errors, "the page reported problems:\n" + "\n".join(problems.errors)


# --- axe-core ---------------------------------------------------------------------------------------------

_AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary || ""})),
  }));
}"""


def check_axe(page: Page, name: str) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is; fail on violations of impact moderate or worse, print and return all."""
    try:
        violations = _run_axe(page)
    except PlaywrightError as error:
        if "Content Security Policy" not in str(error):
            raise
        # The page's policy allows no script at all: the same address, same cookies, in a context ignoring CSP.
        twin = page.context.browser.new_context(  # type: ignore[union-attr]  # a context always has its browser
            bypass_csp=True, storage_state=page.context.storage_state(), viewport=page.viewport_size
        )
        try:
            twin_page = twin.new_page()
            twin_page.goto(page.url)
            twin_page.add_script_tag(path=AXE_JS)
            violations = _run_axe(twin_page)
        finally:
            twin.close()
    for violation in violations:
        where = "; ".join(node["target"] for node in violation["nodes"][:5])
        print(f"axe {name}: {violation['impact']} {violation['id']} ({violation['help']}) at {where}")
    failing = [v for v in violations if v["impact"] in FAILING]
    assert not failing, f"axe-core on {name} ({page.url}):\n" + "\n".join(_describe(v) for v in failing)
    return violations


def _run_axe(page: Page) -> list[dict[str, Any]]:
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(url=AXE_URL)
    version = page.evaluate("() => axe.version")
    assert version == AXE_VERSION, f"axe-core {version} loaded, {AXE_VERSION} expected"
    violations: list[dict[str, Any]] = page.evaluate(_AXE_RUN)
    return violations


def _describe(violation: dict[str, Any]) -> str:
    lines = [f"- {violation['impact']} {violation['id']}: {violation['help']} ({violation['helpUrl']})"]
    for node in violation["nodes"][:10]:
        lines.append(f"    {node['target']}: {node['summary']}".replace("\n", " "))
    return "\n".join(lines)


# --- width ------------------------------------------------------------------------------------------------

# The page's width against the window's, and the outermost elements that reach past the window's right edge
# without a scroll box of their own between them and the page (a table in .table-wrap scrolls inside it: not a
# fault). The elements only explain a failure; the test is the document's scrollWidth.
_WIDTH = """() => {
  const limit = window.innerWidth + 1;
  const scrolls = el => ["auto", "scroll", "hidden", "clip"].includes(getComputedStyle(el).overflowX);
  const sticksOut = el => el.getBoundingClientRect().right > limit;
  const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
    + [...el.classList].map(c => "." + c).join("");
  const wide = [];
  const visit = el => {
    for (const child of el.children) {
      if (sticksOut(child)) {
        wide.push(`${name(child)} (right edge at ${Math.round(child.getBoundingClientRect().right)} px)`);
      } else if (!scrolls(child)) {
        visit(child);
      }
    }
  };
  visit(document.body);
  return {page: document.documentElement.scrollWidth, window: window.innerWidth, wide: wide.slice(0, 8)};
}"""


def check_no_sideways_scroll(page: Page, name: str) -> None:
    """Fail if, at phone width (:data:`PHONE`), the page scrolls sideways: ``scrollWidth`` of the document past
    the window's width (1 px allowed for rounding)."""
    original = page.viewport_size or DESKTOP
    page.set_viewport_size(PHONE)
    try:
        width = page.evaluate(_WIDTH)
    finally:
        page.set_viewport_size(original)
    assert width["page"] <= width["window"] + 1, (
        f"{name} ({page.url}) is {width['page']} px wide in a {width['window']} px window; sticking out: "
        + ("; ".join(width["wide"]) or "nothing found under <body>")
    )


# --- screenshots ------------------------------------------------------------------------------------------


def capture(page: Page, name: str) -> tuple[Path, Path]:
    """Full-page screenshots at desktop and phone width (``screenshots/<name>-desktop.png``, ``-phone.png``)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    original = page.viewport_size or DESKTOP
    paths = []
    for size_name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        path = SCREENSHOTS / f"{slug}-{size_name}.png"
        page.screenshot(path=path, full_page=True, animations="disabled", caret="hide")
        paths.append(path)
    page.set_viewport_size(original)
    return paths[0], paths[1]
