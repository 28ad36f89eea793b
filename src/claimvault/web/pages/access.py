"""Who may see a page, and how pages answer: session dependencies that read the CSRF token from the form, a
route class that turns redirects and errors into HTML, and the Jinja2 environment (autoescaping on)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader
from starlette.responses import HTMLResponse, RedirectResponse, Response

from claimvault.accounts.sessions import csrf_matches, csrf_token, resolve_session
from claimvault.errors import ClaimVaultError, PermissionDenied
from claimvault.runtime import Runtime
from claimvault.security.mfa.service import enrolled_methods
from claimvault.web.deps import MAX_TOKEN_LENGTH, PERMISSION_ATTR, SAFE_METHODS, Authenticated, RuntimeDep

CSRF_FIELD = "csrf_token"
LOGIN_PATH = "/login"
HOME_PATH = "/account/security"
PASSWORD_PATH = "/account/password"  # noqa: S105 - a path, not a password
ENROLL_PATH = "/mfa/enroll"
CHALLENGE_PATH = "/mfa/challenge"
# Pages a user who must change their password may still use once the second factor is done.
PASSWORD_CHANGE_PAGES = frozenset({PASSWORD_PATH, "/logout"})

templates = Environment(
    loader=PackageLoader("claimvault.web.pages", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


class PageRedirect(Exception):
    """Send the browser elsewhere with 303 See Other (raised from page dependencies and handlers)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def see_other(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


def render(name: str, *, status_code: int = 200, headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**context), status_code=status_code, headers=headers)


def error_page(status_code: int, message: str, *, retry_after: int | None = None) -> HTMLResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return render("error.html", status_code=status_code, headers=headers, message=message)


class PageRoute(APIRoute):
    """An APIRoute whose failures are pages: redirects become 303s, our errors and malformed forms an HTML page
    (the app's handlers would answer JSON). Messages of ``ClaimVaultError`` are written to carry no data."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except PageRedirect as exc:
                return see_other(exc.location)
            except RequestValidationError:
                return error_page(400, "The form was incomplete or malformed. Go back and try again.")
            except ClaimVaultError as exc:
                return error_page(exc.status_code, exc.message, retry_after=getattr(exc, "retry_after", None))

        return page_handler


@dataclass(frozen=True)
class PageSession:
    """The logged-in session behind a page, with the CSRF token its forms must carry."""

    auth: Authenticated
    csrf: str

    @property
    def mfa_verified(self) -> bool:
        return self.auth.session.mfa_verified_at is not None


async def form_field(request: Request, name: str) -> str:
    """A text field of the submitted form ("" when absent or not text)."""
    value = (await request.form()).get(name)
    return value if isinstance(value, str) else ""


async def _page_session(request: Request, runtime: Runtime) -> PageSession:
    settings = runtime.settings
    token = request.cookies.get(settings.session_cookie_name)
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise PageRedirect(LOGIN_PATH)
    found = await run_in_threadpool(resolve_session, db=runtime.db, settings=settings, token=token)
    if found is None:
        raise PageRedirect(LOGIN_PATH)
    if request.method not in SAFE_METHODS and not csrf_matches(settings, token, await form_field(request, CSRF_FIELD)):
        raise PermissionDenied(
            "The form has expired or did not come from this site. Reload the page and try again.", code="csrf_failed"
        )
    session, user = found
    return PageSession(Authenticated(user=user, session=session, token=token), csrf_token(settings, token))


async def page_pending(request: Request, runtime: RuntimeDep) -> PageSession:
    """A live session whose second factor may still be pending (MFA enrolment, challenge, logout)."""
    return await _page_session(request, runtime)


async def page_authenticated(request: Request, runtime: RuntimeDep) -> PageSession:
    """A fully logged-in session; otherwise the browser is sent to the step that is missing."""
    page = await _page_session(request, runtime)
    if not page.mfa_verified:
        methods = await run_in_threadpool(enrolled_methods, db=runtime.db, user_id=page.auth.user.id)
        raise PageRedirect(CHALLENGE_PATH if methods else ENROLL_PATH)
    if page.auth.user.must_change_password and request.url.path not in PASSWORD_CHANGE_PAGES:
        raise PageRedirect(PASSWORD_PATH)
    return page


setattr(page_pending, PERMISSION_ATTR, "pending_login")
setattr(page_authenticated, PERMISSION_ATTR, "authenticated")
PendingPage = Annotated[PageSession, Depends(page_pending)]
AuthPage = Annotated[PageSession, Depends(page_authenticated)]
