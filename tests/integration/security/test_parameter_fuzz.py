"""A property-based fuzz of every route's path and query parameters: nothing a URL carries answers 5xx.

The routes are read from the Litestar app itself (each GET route, its typed path parameters and its declared
query parameters), so a new route is fuzzed without touching this file. An admin is logged in, and /api/ routes
get an admin token, so the fuzz reaches the handlers rather than the login page; a small seeded data set (orders,
an ingest error, a published flow and a backtest) lets ids hit real rows as well as missing ones.

Each parameter gets hostile values: ids beyond the database's integer range, negative and zero ids, digits from
other scripts (``²``, ``٣``, fullwidth), empty and very long strings, days at the calendar's ends, ISO moments with
and without a time zone, forged page cursors, ``%00``, percent-escaped surrogates and invalid UTF-8, format and
template markup, path traversal, repeated parameters (lists), and an undeclared parameter as well. First every
parameter of every route gets each value that once answered 500 somewhere (a sweep, so none is left to chance),
then Hypothesis combines hostile values across a route's parameters; each example is sent as GET and as HEAD, for
the whole page or for its htmx fragment. No answer may be a 5xx.

The POST forms with numeric fields (receiving, transferring, counting stock, safety stock, low-stock thresholds,
channel rules, warehouse costs, carrier rates) get the same two passes: any number, however written, is a 200/303
or a 400 with the form's message, never a 5xx.

A fixed number of examples per route with ``derandomize=True``: a run is repeatable and takes the same time.
"""

from __future__ import annotations

import base64
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from sqlmodel import select

from app.db import Database
from app.domain.accounts import services as accounts
from app.domain.accounts.models import TokenScope
from app.domain.accounts.services import SYSTEM
from app.domain.channels.services import set_webhook_secret
from app.domain.flows import services as flows
from app.domain.flows.models import Flow
from app.domain.shops.models import Shop
from app.main import create_app
from app.seed import seed_demo
from app.settings import Settings
from tests.integration.conftest import BACKEND, fresh_database, fresh_settings, start_arq_worker, stop_process
from tests.integration.forms import csrf_from, login
from tests.integration.orders.conftest import deliver, wait_for_jobs
from tests.integration.processing.conftest import generic_order

pytestmark = pytest.mark.asyncio(loop_scope="module")

#: Examples per route with parameters; a route without any only gets the undeclared one varied, a few times.
EXAMPLES = 20
FEW_EXAMPLES = 3
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,  # no saved examples: every run tries the same ones
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
WEBHOOK_SECRET = "fuzz-webhook-secret"


# --- the routes, as the app declares them ---------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """A GET route: its path template, its path parameters' types and its declared query parameters."""

    path: str
    path_types: dict[str, type]
    query: tuple[str, ...]

    def __str__(self) -> str:
        return self.path

    @property
    def parameters(self) -> list[str]:
        return [*self.path_types, *self.query]

    def url(self, values: dict[str, str], query: list[tuple[str, str]]) -> str:
        """The URL with these (already encoded) path values, ``1`` for the others, and this query string."""
        path = re.sub(r"\{(\w+):\w+\}", lambda match: values.get(match.group(1), "1"), self.path)
        return path + ("?" + "&".join(f"{name}={value}" for name, value in query) if query else "")


def routes_of(app: Litestar) -> list[Route]:
    """Every route that answers GET, with the parameters Litestar parses for it."""
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or "GET" not in route.route_handler_map:
            continue
        _, kwargs_model = route.route_handler_map["GET"]
        found.append(
            Route(
                path=route.path,
                path_types={name: spec.type for name, spec in route.path_parameters.items()},
                query=tuple(sorted(p.field_alias for p in kwargs_model.expected_query_params)),
            )
        )
    return found


def listed_routes() -> list[Route]:
    """The routes of an app built only to be read (no database is opened), for parametrizing."""
    with tempfile.TemporaryDirectory(prefix="ruleflow-routes-") as var_dir:
        settings = Settings(var_dir=Path(var_dir), database_url="sqlite+aiosqlite://", secret_key="r" * 48)
        return routes_of(create_app(settings))


ROUTES = listed_routes()
WITH_PARAMETERS = [route for route in ROUTES if route.parameters]
WITHOUT_PARAMETERS = [route for route in ROUTES if not route.parameters]


# --- hostile values, already percent-encoded for a URL ----------------------------------------------------


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


HOSTILE_TEXT = [
    "",
    " ",
    "0",
    "-1",
    "1",
    "2",
    "3",
    "2147483647",
    "2147483648",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "99999999999999999999999",
    "9" * 5000,
    "1e309",
    "-1e309",
    "NaN",
    "inf",
    "0x1F",
    "1_000",
    "²",
    "٣",
    "１２",
    "߀",
    "0001-01-01",
    "9999-12-31",
    "2026-02-30",
    "2026-13-01",
    "1970-01-01T00:00:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "2026-11-11T10:00:00",
    cursor("2026-11-11T10:00:00|1"),
    cursor("0001-01-01T00:00:00+14:00|1"),
    cursor("2026-11-11T10:00:00+00:00|99999999999999999999999"),
    cursor("2026-11-11T10:00:00+00:00|²"),
    cursor("|"),
    "\x00",
    "a\x00b",
    "\\ud800",  # a lone surrogate as a JSON escape, as text
    "\ufeff",
    "\u202e",
    "%",
    "%s%s%n",
    "%(x)s",
    "{0}",
    "{{ 7*7 }}",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "../../../../etc/passwd",
    "..\\..\\windows",
    "draft",
    "live",
    "true",
    "null",
    "[]",
    "{}",
    "x" * 10_000,
    "订单" * 500,
]
# Escapes a browser will not produce from text: a lone surrogate as UTF-8, invalid UTF-8, a double escape.
RAW_ENCODED = ["%ED%A0%80", "%ED%BF%BF", "%C0%AF", "%FF%FE", "%F4%90%80%80", "%2500", "%00", "..%2F..%2Fetc%2Fpasswd"]


def encoded(text: str) -> str:
    return quote(text, safe="")


#: The values that answered 500 somewhere before; every parameter of every route gets each of them.
EDGES = [
    *map(
        encoded,
        [
            "",
            "0",
            "-1",
            "2147483648",
            "9223372036854775808",
            "99999999999999999999999",
            "9" * 5000,
            "1e309",
            "²",
            "٣",
            "１２",
            "0001-01-01",
            "9999-12-31",
            "2026-11-11T10:00:00",
            cursor("2026-11-11T10:00:00|1"),
            cursor("2026-11-11T10:00:00+00:00|99999999999999999999999"),
            "%s%(x)s",
            "x" * 10_000,
        ],
    ),
    "%00",
    "%ED%A0%80",
]


hostile = st.one_of(
    st.sampled_from(HOSTILE_TEXT).map(encoded),
    st.sampled_from(RAW_ENCODED),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(max_size=40).map(encoded),
)
#: Ids: real rows (the seeded data starts at 1), then anything.
path_int = st.one_of(st.sampled_from(["1", "2", "3"]), hostile)
#: Text path parameters: real codes, then anything; a ``path`` parameter may also contain slashes.
path_text = st.one_of(st.sampled_from(["PHONE-X1", "SET-SKIN", "css", "openapi.json"]), hostile)
path_path = st.one_of(
    st.sampled_from(["css/app.css", "vendor/htmx/htmx.min.js", "../README.md", "%2e%2e/%2e%2e/etc/passwd"]), hostile
)


@st.composite
def requests_for(draw: st.DrawFn, route: Route) -> str:
    """One URL for ``route``: each path parameter hostile or real, some query parameters hostile, some repeated."""
    kinds = {int: path_int, Path: path_path}
    values = {name: draw(kinds.get(kind, path_text), label=name) for name, kind in route.path_types.items()}
    names = [*route.query, "page"]  # an undeclared one too: a handler may read the raw query string
    chosen = draw(st.lists(st.sampled_from(names), max_size=len(names) + 2), label="query")
    return route.url(values, [(name, draw(hostile, label=name)) for name in chosen])


# --- one app for the module, with data -------------------------------------------------------------------


@dataclass
class Fuzzing:
    client: AsyncTestClient[Litestar]
    db: Database
    token: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fuzzing(tmp_path_factory: pytest.TempPathFactory, migrated_template: Path | None) -> AsyncIterator[Fuzzing]:
    """The demo data plus three orders, an ingest error, the flow published and a backtest; an admin logged in.

    Shared by the module's examples: they only read (GET and HEAD), and the form fuzz refuses or adds rows."""
    app_settings = fresh_settings(tmp_path_factory.mktemp("fuzz"), migrated_template)
    db = await fresh_database(app_settings)
    worker = start_arq_worker(app_settings) if BACKEND == "postgres" else None
    async with db.transaction() as session:
        await seed_demo(session)
        for shop in (await session.exec(select(Shop))).all():
            set_webhook_secret(shop, app_settings.secret_key, WEBHOOK_SECRET)
            session.add(shop)
        _, token = await accounts.create_token(session, "fuzz", [TokenScope.read, TokenScope.admin], SYSTEM)
    async with AsyncTestClient(create_app(app_settings), base_url="http://testserver.local") as client:
        for number in (1, 2, 3):
            order = generic_order(f"FUZZ-{number}", lines=[("PHONE-X1", 1, 399900)], buyer=f"b{number}")
            delivered = await deliver(client, "webshop", order, shop="webshop", secret=WEBHOOK_SECRET)
            assert delivered.status_code == 200, delivered.text
        broken = await deliver(client, "webshop", {"order_id": "FUZZ-BAD"}, shop="webshop", secret=WEBHOOK_SECRET)
        assert broken.status_code == 422, broken.text
        await wait_for_jobs(db)
        async with db.transaction() as session:
            flow = (await session.exec(select(Flow))).one()
            assert flow.id is not None
            await flows.publish(session, SYSTEM, flow.id, "fuzz")
            await flows.start_backtest(session, SYSTEM, flow.id, 10)
        assert (await login(client, "admin", "admin-demo-123")).status_code == 303
        yield Fuzzing(client, db, token)
    if worker is not None:
        stop_process(worker)
    await db.dispose()


def headers_for(url: str, fuzzing: Fuzzing) -> dict[str, str]:
    return {"Authorization": f"Bearer {fuzzing.token}"} if url.startswith("/api/") else {}


def summary(response: Any) -> str:
    request = response.request
    return f"{request.method} {str(request.url)[:300]} → {response.status_code}: {response.text[:300]}"


async def fetch(fuzzing: Fuzzing, method: str, url: str, *, htmx: bool = False) -> Any:
    headers = {**headers_for(url, fuzzing), **({"HX-Request": "true"} if htmx else {})}
    return await fuzzing.client.request(method, url, headers=headers)


async def answers_without_5xx(fuzzing: Fuzzing, data: st.DataObject, route: Route) -> None:
    """One drawn URL, as GET and as HEAD, asked for the whole page or (as htmx does) only its fragment."""
    url = data.draw(requests_for(route), label="url")
    htmx = data.draw(st.booleans(), label="htmx")
    for method in ("GET", "HEAD"):
        response = await fetch(fuzzing, method, url, htmx=htmx)
        assert response.status_code < 500, summary(response)


@pytest.mark.parametrize("route", WITH_PARAMETERS, ids=str)
async def test_every_parameter_answers_each_value_that_once_gave_a_500_without_a_5xx(
    fuzzing: Fuzzing, route: Route
) -> None:
    failures = []
    for name in route.parameters:
        for value in EDGES:
            url = route.url({name: value}, []) if name in route.path_types else route.url({}, [(name, value)])
            response = await fetch(fuzzing, "GET", url)
            if response.status_code >= 500:
                failures.append(summary(response))
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("route", WITH_PARAMETERS, ids=str)
@FUZZ
@given(data=st.data())
async def test_no_route_answers_5xx_to_hostile_path_or_query_parameters(
    fuzzing: Fuzzing, route: Route, data: st.DataObject
) -> None:
    await answers_without_5xx(fuzzing, data, route)


@pytest.mark.parametrize("route", WITHOUT_PARAMETERS, ids=str)
@settings(FUZZ, max_examples=FEW_EXAMPLES)
@given(data=st.data())
async def test_a_route_without_parameters_ignores_a_hostile_query_string(
    fuzzing: Fuzzing, route: Route, data: st.DataObject
) -> None:
    await answers_without_5xx(fuzzing, data, route)


async def test_the_fuzz_reaches_every_kind_of_route_it_lists(fuzzing: Fuzzing) -> None:
    """The fuzz is only as good as its list: detail pages with ids, API routes and filtered lists are in it, and
    the seeded rows answer 200, so examples do not all stop at a login page or a 404."""
    paths = {route.path for route in ROUTES}
    assert {"/orders/{order_id:int}", "/api/v1/orders/{order_id:int}", "/orders", "/static/{file_path:path}"} <= paths
    orders = next(route for route in ROUTES if route.path == "/orders")
    assert {"shop", "date_from", "date_to", "after"} <= set(orders.query)
    for url in ("/orders/1", "/api/v1/orders/1", "/flows/1/versions", "/api/v1/flows/1/versions/1", "/orders/errors/1"):
        response = await fetch(fuzzing, "GET", url)
        assert response.status_code == 200, summary(response)


# --- the numeric forms -----------------------------------------------------------------------------------

#: page the form is on, where it posts, a valid form, and its numeric fields (each varied over the valid form).
FORMS = [
    ("/inventory/sku/PHONE-X1", "/inventory/sku/PHONE-X1/receive", {"warehouse": "SH01", "qty": "1"}, ["qty"]),
    (
        "/inventory/sku/PHONE-X1",
        "/inventory/sku/PHONE-X1/transfer",
        {"from_warehouse": "SH01", "to_warehouse": "BJ01", "qty": "1"},
        ["qty"],
    ),
    (
        "/inventory/sku/PHONE-X1",
        "/inventory/sku/PHONE-X1/safety",
        {"warehouse": "SH01", "safety_stock": "1"},
        ["safety_stock"],
    ),
    (
        "/inventory/sku/PHONE-X1",
        "/inventory/sku/PHONE-X1/threshold",
        {"low_stock_threshold": "1"},
        ["low_stock_threshold"],
    ),
    ("/inventory/counts", "/inventory/counts", {"warehouse": "SH01", "lines": "1"}, ["lines"]),
    (
        "/inventory/warehouses",
        "/inventory/channel-rules",
        {"shop_id": "1", "ratio_pct": "50", "buffer": "0"},
        ["shop_id", "ratio_pct", "buffer"],
    ),
    (
        "/inventory/warehouses",
        "/inventory/warehouses",
        {"code": "FZ01", "name": "测试仓", "kind": "regional", "province": "上海", "priority": "10"},
        ["priority", "per_order_fen", "per_item_fen"],
    ),
    (
        "/settings/carrier-rates/",
        "/settings/carrier-rates/",
        {"carrier_code": "ZTO", "first_fee_yuan": "5", "extra_fee_yuan": "1", "promised_days": "3"},
        ["first_fee_yuan", "extra_fee_yuan", "promised_days", "min_weight_g", "max_weight_g"],
    ),
]
numbers = st.one_of(
    st.sampled_from(HOSTILE_TEXT[:31]),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
)


#: Numbers, as typed, that answered 500 in some form before.
NUMBER_EDGES = ["1" + "0" * 30, "9" * 5000, "2147483648", "-2147483649", "1e309", "-1e309", "nan", "inf", "²", "٣", ""]


async def post_numbers(fuzzing: Fuzzing, page: str, action: str, fixed: dict[str, str], values: dict[str, str]) -> Any:
    form = {**fixed, **values}
    if "lines" in form:
        form["lines"] = f"PHONE-X1 {form['lines']}"
    token = csrf_from((await fuzzing.client.get(page)).text)
    return await fuzzing.client.post(action, data={"_csrf_token": token, **form}, follow_redirects=False)


@pytest.mark.parametrize(("page", "action", "fixed", "fields"), FORMS, ids=[form[1] for form in FORMS])
async def test_every_numeric_field_refuses_each_number_that_once_gave_a_500(
    fuzzing: Fuzzing, page: str, action: str, fixed: dict[str, str], fields: list[str]
) -> None:
    failures = []
    for field in fields:
        for value in NUMBER_EDGES:
            response = await post_numbers(fuzzing, page, action, fixed, {field: value})
            if response.status_code not in (200, 303, 400):
                failures.append(f"{field}={value[:40]}: {summary(response)}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(("page", "action", "fixed", "fields"), FORMS, ids=[form[1] for form in FORMS])
@FUZZ
@given(data=st.data())
async def test_no_numeric_form_answers_5xx_to_any_number(
    fuzzing: Fuzzing, page: str, action: str, fixed: dict[str, str], fields: list[str], data: st.DataObject
) -> None:
    values = {field: data.draw(numbers, label=field) for field in fields}
    response = await post_numbers(fuzzing, page, action, fixed, values)
    assert response.status_code in (200, 303, 400), summary(response)
