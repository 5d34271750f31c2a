"""API tokens: a signed-in account creates and revokes the bearer tokens of the REST API (``/api/v1``).

A new token's secret is shown once, on the page that answers the creation (never in an address, a redirect or
the session), with ``Cache-Control: no-store``; only its digest is stored. A token acts with its account's
rights. Revoking is immediate: the next API request with that token is answered 401.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from b12.adapters.api import MAX_TOKEN_NAME, IssuedToken, issue_token, revoke_token, tokens_of
from b12.adapters.web import deps
from b12.adapters.web.forms import FormState
from b12.domain.accounts import Account
from b12.domain.errors import CaseError

router = APIRouter()

SignedIn = Annotated[Account, Depends(deps.require_account)]
NO_STORE = {"Cache-Control": "no-store"}


def _page(
    request: Request,
    account: Account,
    form: FormState,
    issued: IssuedToken | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    context: dict[str, Any] = {
        "form": form,
        "issued": issued,
        "tokens": tokens_of(deps.get_uow(request), account),
        "max_name": MAX_TOKEN_NAME,
    }
    return deps.render(request, "tokens.html", context, status_code=status_code, headers=NO_STORE)


@router.get("/account/tokens", name="tokens", response_class=HTMLResponse)
def tokens_page(request: Request, account: SignedIn) -> HTMLResponse:
    """The account's API tokens, and a form to create one."""
    return _page(request, account, FormState())


def _issue(request: Request, account: Account, name: str) -> IssuedToken:
    return issue_token(deps.get_uow(request), deps.get_clock(request), account, name)


@router.post("/account/tokens", response_class=HTMLResponse)
async def create_token(request: Request, account: SignedIn) -> HTMLResponse:
    """Create a token; its secret is on this answer only."""
    form = FormState.of(await request.form())
    try:
        issued = await run_in_threadpool(_issue, request, account, form.text("name"))
    except CaseError as error:
        form.add_error(error.field, error.problem)
        return await run_in_threadpool(_page, request, account, form, status_code=422)
    return await run_in_threadpool(_page, request, account, FormState(), issued)


@router.post("/account/tokens/{token_id}/revoke", name="revoke_token")
def revoke(request: Request, account: SignedIn, token_id: str) -> Response:
    """Revoke one of the account's tokens (someone else's, or an unknown one: 404)."""
    revoke_token(deps.get_uow(request), deps.get_clock(request), account, token_id)
    deps.flash(request, "The token is revoked: the API refuses it from now on.")
    return RedirectResponse(request.app.url_path_for("tokens"), status_code=303)
