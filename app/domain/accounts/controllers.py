"""Login, logout, language switch, and the admin's settings pages (users, API tokens, audit log)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import QueryParameter
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import LANG_COOKIE, SESSION_COOKIE, host_cookie
from app.domain.accounts import services
from app.domain.accounts.models import Role, TokenScope, UserCreate
from app.domain.accounts.services import AccountError, Actor
from app.errors import DomainError
from app.forms import PUBLIC_FORM_MAX_BYTES, Form, many, one
from app.i18n import SUPPORTED
from app.params import MAX_ID
from app.settings import Settings
from app.web import client_ip, page, refusals_shown_by


def safe_next(target: str | None) -> str:
    """Only redirect to a path on this site (never ``//evil.example``)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


class AuthController(Controller):
    """Logging in and out, and choosing the interface language."""

    tags = ["accounts"]  # noqa: RUF012

    @get("/login", name="accounts:login", opt={"public": True})
    async def login_page(
        self, request: HTMXRequest, next_url: Annotated[str | None, QueryParameter(name="next")] = None
    ) -> Template:
        return page(request, "accounts/login.html", next=safe_next(next_url), error=None, username="")

    @post(
        "/login",
        name="accounts:login_submit",
        opt={"public": True},
        status_code=303,
        request_max_body_size=PUBLIC_FORM_MAX_BYTES,
    )
    async def login(
        self, request: HTMXRequest, data: Form, db_session: AsyncSession, settings: Settings
    ) -> Template | Redirect:
        username = one(data, "username")
        password = one(data, "password", strip=False)
        target = safe_next(one(data, "next"))
        try:
            user = await services.authenticate(db_session, settings, username, password, client_ip(request))
        except AccountError as exc:
            # The failure and its throttling row must be kept even though the login is refused.
            await db_session.commit()
            return Template(
                "accounts/login.html",
                status_code=exc.status,
                context={"error": exc.message, "next": target, "username": username},
            )
        token = await services.open_session(
            db_session,
            user,
            replaces=request.cookies.get(host_cookie(settings, SESSION_COOKIE)),
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
        )
        response = Redirect(target, status_code=303)
        response.set_cookie(
            host_cookie(settings, SESSION_COOKIE),
            token,
            httponly=True,
            samesite="lax",
            secure=not settings.is_development,
            path="/",
            max_age=settings.session_absolute_hours * 3600,
        )
        return response

    @post("/logout", name="accounts:logout", opt={"any_user": True}, status_code=303)
    async def logout(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, actor: Actor, settings: Settings
    ) -> Redirect:
        name = host_cookie(settings, SESSION_COOKIE)
        cookie = request.cookies.get(name)
        if cookie:
            await services.close_session(db_session, cookie)
        await services.audit(db_session, actor, "logout", target_type="user", target_id=actor.id, ip=client_ip(request))
        response = Redirect("/login", status_code=303)
        # Secure as when it was set: a browser ignores a __Host- cookie without it, even one that expires it.
        response.set_cookie(
            name, "", max_age=0, path="/", httponly=True, samesite="lax", secure=not settings.is_development
        )
        return response

    @post(
        "/lang",
        name="accounts:lang",
        opt={"public": True},
        status_code=303,
        request_max_body_size=PUBLIC_FORM_MAX_BYTES,
    )
    async def switch_language(self, data: Form) -> Redirect:
        lang = one(data, "lang")
        response = Redirect(safe_next(one(data, "next")), status_code=303)
        if lang in SUPPORTED:
            response.set_cookie(LANG_COOKIE, lang, httponly=True, samesite="lax", path="/", max_age=365 * 86400)
        return response


async def settings_context(db_session: AsyncSession, **extra: Any) -> dict[str, Any]:
    """What the settings page shows: users, locked usernames, tokens, and the choices of its forms."""
    return {
        "users": await services.list_users(db_session),
        "locked": await services.locked_usernames(db_session),
        "tokens": await services.list_tokens(db_session),
        "roles": list(Role),
        "scopes": list(TokenScope),
        "error": None,
        "new_token": None,
        **extra,
    }


async def _settings_refused(
    request: HTMXRequest, db_session: AsyncSession, section: str, error: DomainError
) -> Template:
    return page(
        request,
        "settings/page.html",
        f"settings/_{section}.html",
        **await settings_context(db_session, error=error.message, section=section),
    )


async def users_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    """The users' section again with the reason (nothing was changed)."""
    return await _settings_refused(request, db_session, "users", error)


async def tokens_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    """The tokens' section again with the reason (nothing was changed)."""
    return await _settings_refused(request, db_session, "tokens", error)


#: The forms of the settings page's users and tokens sections: a refusal shows in its section.
USERS_FORM = refusals_shown_by(users_refused)
TOKENS_FORM = refusals_shown_by(tokens_refused)


class SettingsController(Controller):
    """设置: users, API tokens and the audit log. Admins only."""

    path = "/settings"
    tags = ["settings"]  # noqa: RUF012
    opt = {"permission": "settings.manage"}  # noqa: RUF012

    @get("/", name="settings:index")
    async def index(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        return page(request, "settings/page.html", **await settings_context(db_session))

    @post("/users", name="settings:create_user", status_code=200, opt=USERS_FORM)
    async def create_user(self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor) -> Template:
        try:
            user = UserCreate.model_validate(
                {
                    "username": one(data, "username"),
                    "display_name": one(data, "display_name") or one(data, "username"),
                    "role": one(data, "role"),
                    "password": one(data, "password", strip=False),
                }
            )
        except ValidationError as exc:
            raise AccountError("check_fields", fields=", ".join(str(err["loc"][0]) for err in exc.errors())) from None
        await services.create_user(db_session, user, actor)
        return page(request, "settings/page.html", "settings/_users.html", **await settings_context(db_session))

    @post("/users/{user_id:int}/unlock", name="settings:unlock_user", status_code=200, opt=USERS_FORM)
    async def unlock_user(self, request: HTMXRequest, user_id: int, db_session: AsyncSession, actor: Actor) -> Template:
        await services.unlock_user(db_session, user_id, actor, client_ip(request))
        return page(request, "settings/page.html", "settings/_users.html", **await settings_context(db_session))

    @post("/users/{user_id:int}/disable", name="settings:disable_user", status_code=200, opt=USERS_FORM)
    async def disable_user(
        self, request: HTMXRequest, user_id: int, db_session: AsyncSession, actor: Actor
    ) -> Template:
        return await self._set_active(request, user_id, False, db_session, actor)

    @post("/users/{user_id:int}/enable", name="settings:enable_user", status_code=200, opt=USERS_FORM)
    async def enable_user(self, request: HTMXRequest, user_id: int, db_session: AsyncSession, actor: Actor) -> Template:
        return await self._set_active(request, user_id, True, db_session, actor)

    async def _set_active(
        self, request: HTMXRequest, user_id: int, active: bool, db_session: AsyncSession, actor: Actor
    ) -> Template:
        await services.set_user_active(db_session, user_id, active, actor, client_ip(request))
        return page(request, "settings/page.html", "settings/_users.html", **await settings_context(db_session))

    @post("/tokens", name="settings:create_token", status_code=200, opt=TOKENS_FORM)
    async def create_token(self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor) -> Template:
        name = one(data, "name")
        if not name:
            raise AccountError("token_needs_name")
        scopes = [TokenScope(s) for s in many(data, "scopes") if s in TokenScope.__members__]
        _, secret = await services.create_token(db_session, name, scopes, actor)
        return page(
            request,
            "settings/page.html",
            "settings/_tokens.html",
            **await settings_context(db_session, new_token=secret),
        )

    @post("/tokens/{token_id:int}/revoke", name="settings:revoke_token", status_code=200, opt=TOKENS_FORM)
    async def revoke_token(
        self, request: HTMXRequest, token_id: int, db_session: AsyncSession, actor: Actor
    ) -> Template:
        await services.revoke_token(db_session, token_id, actor)
        return page(request, "settings/page.html", "settings/_tokens.html", **await settings_context(db_session))

    @get("/audit", name="settings:audit", opt={"permission": "audit.read"})
    async def audit_log(
        self,
        request: HTMXRequest,
        db_session: AsyncSession,
        before: Annotated[int | None, QueryParameter(name="before", ge=1, le=MAX_ID)] = None,
        action: Annotated[str | None, QueryParameter(name="action")] = None,
    ) -> Template:
        entries = await services.audit_page(db_session, before_id=before, action=action or None)
        return page(
            request,
            "settings/audit.html",
            "settings/_audit_rows.html",
            entries=entries,
            action=action or "",
            next_before=entries[-1].id if len(entries) == 50 else None,
        )
