"""规则流: the flow list, the visual editor with its server-rendered panels, versions, diffs, and the JSON API."""

from __future__ import annotations

import json
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.datastructures import UploadFile
from litestar.exceptions import NotFoundException
from litestar.params import JSONBody, QueryParameter
from litestar.plugins.htmx import ClientRedirect, HTMXRequest
from litestar.response import Redirect, Template
from sqlmodel.ext.asyncio.session import AsyncSession

import ruleflows
from app.domain.accounts.services import Actor
from app.domain.flows import action_forms, layout, panels, services, sources
from app.domain.flows import canary as canaries
from app.domain.flows.models import CanaryStatus
from app.domain.flows.samples import context_from_payload
from app.domain.flows.schemas import (
    BacktestRead,
    BacktestRequest,
    DocumentCheck,
    DraftSave,
    FlowCreate,
    FlowDetail,
    FlowRead,
    LayoutRequest,
    PublishRequest,
    RollbackRequest,
    SimulateRequest,
    ValidationRead,
    VersionRead,
    problems_read,
)
from app.domain.flows.services import FlowError
from app.domain.shops import services as shop_readers
from app.domain.shops.models import Channel
from app.errors import DomainError
from app.forms import Form, Upload, many, one
from app.i18n import current_locale, gettext
from app.json_input import NestedTooDeeplyError, parse_json
from app.settings import Settings
from app.web import client_ip, page, refusals_shown_by


def _not_found(error: FlowError) -> NotFoundException:
    return NotFoundException(error.message)


async def _flow_or_404(db_session: AsyncSession, flow_id: int) -> Any:
    try:
        return await services.get_flow(db_session, flow_id)
    except FlowError as exc:
        raise _not_found(exc) from None


def _problem_dicts(problems: list[Any]) -> list[dict[str, Any]]:
    return [problem.to_dict() for problem in problems]


async def index_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    """The flow list again with the reason a new or imported flow was refused."""
    return page(
        request,
        "flows/page.html",
        flows=await services.list_flows(db_session),
        templates=ruleflows.list_templates(),
        error=error.message,
    )


async def panel_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    """In the property panel: the reason the node it was sent could not be used."""
    return Template("flows/_panel_error.html", context={"message": error.message})


async def settings_context(db_session: AsyncSession, flow: Any, error: str | None = None) -> dict[str, Any]:
    """What the flow's settings form shows; ``settings_saved`` when there was no refusal."""
    return {
        "flow": flow,
        "channels": list(Channel),
        "shops": await shop_readers.list_shops(db_session),
        "error": error,
        "settings_saved": error is None,
    }


async def settings_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    """The settings form with the reason, showing the flow as it is stored."""
    flow = await services.get_flow(db_session, int(request.path_params["flow_id"]))
    return Template("flows/_settings.html", context=await settings_context(db_session, flow, error.message))


async def versions_context(db_session: AsyncSession, flow_id: int, **extra: Any) -> dict[str, Any]:
    """What the versions page shows: the flow, its versions, the draft's problems, the running canary beside the
    live version with their side-by-side, and the canaries that ended."""
    flow = await _flow_or_404(db_session, flow_id)
    versions = await services.list_versions(db_session, flow_id)
    canary = await canaries.running_canary(db_session, flow)
    ended = [c for c in await canaries.history(db_session, flow_id) if c.status != CanaryStatus.running]
    shops = await shop_readers.list_shops(db_session)
    return {
        "flow": flow,
        "versions": versions,
        "numbers": {version.id: version.number for version in versions},
        "canary": canary,
        "canary_stats": await canaries.stats_of(db_session, canary) if canary else None,
        "canary_history": ended,
        "canary_notice": ended[0] if ended and ended[0].status == CanaryStatus.auto_rolled_back else None,
        "shops": shops,
        "shop_names": {shop.code: shop.name for shop in shops},
        "problems": _problem_dicts(services.validate(flow.draft)),
        "locale": current_locale.get(),
        "error": None,
        "message": None,
        **extra,
    }


async def canary_changed(request: HTMXRequest, db_session: AsyncSession, flow_id: int, message: str) -> Template:
    """The versions page (or its fragment) after a canary started or ended, with ``message`` naming the version
    that now matters: the running canary's, else the live one."""
    context = await versions_context(db_session, flow_id)
    canary, flow = context["canary"], context["flow"]
    context["message"] = message % {"number": context["numbers"][canary.version_id if canary else flow.live_version_id]}
    return page(request, "flows/versions.html", "flows/_versions.html", **context)


async def versions_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    """The versions page (or its fragment) with the reason a publish or rollback was refused."""
    context = await versions_context(db_session, int(request.path_params["flow_id"]), error=error.message)
    context["actor"] = request.scope.get("auth")
    return Template("flows/_versions.html" if request.htmx else "flows/versions.html", context=context)


class FlowsController(Controller):
    """Pages for designers (flows.edit); publishing and rollback need flows.publish."""

    path = "/flows"
    tags = ["flows"]  # noqa: RUF012
    opt = {"permission": "flows.edit"}  # noqa: RUF012
    include_in_schema = False

    @get("/", name="flows:index")
    async def index(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        return page(
            request,
            "flows/page.html",
            flows=await services.list_flows(db_session),
            templates=ruleflows.list_templates(),
            error=None,
        )

    @post("/", name="flows:create", status_code=303, opt=refusals_shown_by(index_refused))
    async def create(
        self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Redirect | Template:
        flow = await services.create_flow(
            db_session,
            actor,
            one(data, "name"),
            template=one(data, "template") or None,
            trigger=one(data, "trigger") or None,
            ip=client_ip(request),
        )
        return Redirect(request.app.route_reverse("flows:editor", flow_id=flow.id), status_code=303)

    @post("/import", name="flows:import", status_code=303, opt=refusals_shown_by(index_refused))
    async def import_flow(
        self, request: HTMXRequest, data: Upload, db_session: AsyncSession, actor: Actor
    ) -> Redirect | Template:
        upload = data.get("file")
        text = one(data, "payload")
        if isinstance(upload, UploadFile):
            raw = await upload.read()
            text = raw.decode("utf-8", errors="replace").strip() or text
        try:
            payload = parse_json(text)
        except NestedTooDeeplyError as exc:
            raise FlowError("json_too_deep", limit=exc.limit) from None
        except ValueError:
            raise FlowError("not_json") from None
        flow = await services.import_flow(db_session, actor, payload, ip=client_ip(request))
        return Redirect(request.app.route_reverse("flows:editor", flow_id=flow.id), status_code=303)

    @get("/{flow_id:int}", name="flows:editor")
    async def editor(
        self, request: HTMXRequest, flow_id: int, db_session: AsyncSession, settings: Settings
    ) -> Template:
        flow = await _flow_or_404(db_session, flow_id)
        draft, arrangement = layout.opened(flow.draft)
        listed = draft.get("nodes")
        nodes = listed if isinstance(listed, list) else []
        return page(
            request,
            "flows/editor.html",
            flow=flow,
            document=draft,
            arranged_on_open=draft != flow.draft,
            lanes=[lane.to_dict() for lane in arrangement.lanes],
            problems=_problem_dicts(services.validate(draft)),
            latest_canary=next(iter(await canaries.history(db_session, flow_id, limit=1)), None),
            summaries={
                n["id"]: panels.summary(n) for n in nodes if isinstance(n, dict) and isinstance(n.get("id"), str)
            },
            palette=palette(flow.trigger),
            orders=await sources.recent_contexts(db_session, 20, secret_key=settings.secret_key),
            backtest_max=services.MAX_BACKTEST_ORDERS,
            channels=list(Channel),
            shops=await shop_readers.list_shops(db_session),
            locale=current_locale.get(),
            settings_saved=False,
            error=None,
        )

    @post("/{flow_id:int}/draft", name="flows:save_draft", status_code=200)
    async def save_draft(
        self,
        request: Request[Any, Any, Any],
        flow_id: int,
        data: JSONBody[DraftSave],
        db_session: AsyncSession,
        actor: Actor,
    ) -> Response[dict[str, Any]]:
        flow, problems = await services.save_draft(
            db_session, actor, flow_id, data.document, base_revision=data.base_revision, ip=client_ip(request)
        )
        return Response(
            {
                "revision": flow.draft_revision,
                "saved_at": flow.draft_saved_at.isoformat(),
                "problems": _problem_dicts(problems),
            }
        )

    @post("/{flow_id:int}/layout", name="flows:layout", status_code=200, opt={"read_only": True})
    async def arrange(
        self, flow_id: int, data: JSONBody[LayoutRequest], db_session: AsyncSession
    ) -> Response[dict[str, Any]]:
        """整理布局: where the nodes of the canvas's document go (the editor applies it; nothing is stored)."""
        await _flow_or_404(db_session, flow_id)
        return Response(services.arranged_layout(data.document, data.sizes).to_dict())

    @post("/{flow_id:int}/panel", name="flows:panel", status_code=200, opt=refusals_shown_by(panel_refused))
    async def panel(self, request: HTMXRequest, flow_id: int, data: Form, db_session: AsyncSession) -> Template:
        flow = await _flow_or_404(db_session, flow_id)
        node = panels.read_node(one(data, "node"))
        applied = (
            panels.Applied(panels.prepared(node)) if one(data, "intent") == "open" else panels.apply_form(node, data)
        )
        changed = one(data, "intent") != "open" and not applied.param_problems
        return Template(
            "flows/_node_panel.html",
            context=await self._panel_context(db_session, flow, applied, changed=changed),
        )

    async def _panel_context(
        self, db_session: AsyncSession, flow: Any, applied: panels.Applied, *, changed: bool
    ) -> dict[str, Any]:
        from app.domain.flows import builder

        node = applied.node
        return {
            "flow_id": flow.id,
            "node": node,
            "node_json": json.dumps(node, ensure_ascii=False),
            "changed": changed,
            "summary": panels.summary(node),
            "applied": applied,
            "problems": panels.node_problems(node, flow.trigger),
            "raw": applied.raw_refused if applied.raw_error else panels.raw_text(node),
            "mode": panels.builder_mode(node["config"]) if node["type"] == "condition" else None,
            "branch_modes": {
                b.get("id"): panels.builder_mode(b) for b in node["config"].get("branches") or [] if isinstance(b, dict)
            },
            "fields": builder.picker_fields(flow.trigger),
            "field_groups": builder.field_groups(flow.trigger),
            "joins": builder.join_choices(),
            "pretty": panels.pretty,
            "default_input": builder.default_input,
            "operators_for": builder.operators_for,
            "picker_field": builder.picker_field,
            "no_value": builder.NO_VALUE,
            "multi_value": builder.MULTI_VALUE,
            "hours_ago": builder.HOURS_AGO,
            "regions": ruleflows.REGIONS,
            "province_groups": _province_groups(),
            "categories": await services.categories(db_session),
            "actions": panels.action_choices(flow.trigger),
            "param_rows": panels.param_rows(applied),
            "one_of_mode": applied.action_mode or panels.one_of_mode(node),
            "pickers": action_forms.picker_choices(
                warehouses=[(w.code, w.name) for w in await services.warehouses(db_session)],
                carriers=[(c.code, c.name) for c in await services.carriers(db_session)],
                skus=[(k.code, k.name) for k in await services.skus(db_session)],
                messages=services.message_templates(),
            ),
            "max_after": action_forms.MAX_AFTER,
            "max_text": ruleflows.MAX_TEXT_PARAM_LENGTH,
        }

    @post(
        "/{flow_id:int}/panel/check",
        name="flows:check_raw",
        status_code=200,
        opt={"read_only": True, **refusals_shown_by(panel_refused)},
    )
    async def check_raw(self, flow_id: int, data: Form, db_session: AsyncSession) -> Template:
        flow = await _flow_or_404(db_session, flow_id)
        node = panels.read_node(one(data, "node"))
        # The check evaluates the rule on a sample order: in a worker thread, within the simulation's time limit.
        check = await services.evaluate_off_loop(panels.check_raw, node, one(data, "raw"), flow.trigger)
        return Template("flows/_raw_check.html", context={"check": check})

    @post("/{flow_id:int}/simulate", name="flows:simulate", status_code=200, opt={"read_only": True})
    async def simulate(
        self, request: HTMXRequest, flow_id: int, data: Form, db_session: AsyncSession, settings: Settings
    ) -> Template:
        flow = await _flow_or_404(db_session, flow_id)
        error, simulation, status = None, None, 400
        try:
            document = parse_json(one(data, "document")) if one(data, "document") else flow.draft
        except NestedTooDeeplyError as exc:
            document, error = flow.draft, str(exc)
        except ValueError:
            document, error = flow.draft, gettext("The flow on the canvas could not be read.")
        payload = one(data, "payload")
        order: sources.OrderContext | None = None
        if payload:
            try:
                order = sources.OrderContext(
                    "pasted", gettext("Pasted order"), context_from_payload(parse_json(payload))
                )
            except ValueError as exc:
                error = gettext("The pasted order could not be used: %(detail)s") % {"detail": str(exc)}
        else:
            order = await sources.context_for(db_session, one(data, "order"), secret_key=settings.secret_key)
            if order is None:
                error = gettext("Choose an order to try the flow on.")
        if order is not None and error is None:
            try:
                world = await services.backtest_world(db_session, [order])
                simulation = await services.simulate(document, order, world=world)
            except FlowError as exc:
                error, status = exc.message, exc.status
        return Template(
            "flows/_simulation.html",
            status_code=200 if error is None else status,
            context={
                "simulation": simulation,
                "error": error,
                "document": document,
                "locale": current_locale.get(),
                "shown": panels.shown,
                "action_label": panels.action_label,
            },
        )

    @post("/{flow_id:int}/backtests", name="flows:backtest", status_code=200)
    async def start_backtest(
        self, request: HTMXRequest, flow_id: int, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Template:
        try:
            limit = int(one(data, "orders") or "50")
        except ValueError:
            limit = 0
        try:
            run = await services.start_backtest(db_session, actor, flow_id, limit, ip=client_ip(request))
        except FlowError as exc:
            # A 400 response: the request's transaction is rolled back, nothing was started.
            return Template(
                "flows/_backtest.html",
                status_code=400,
                context={"run": None, "error": exc.message, "flow_id": flow_id},
            )
        return Template("flows/_backtest.html", context={"run": run, "error": None, "flow_id": flow_id})

    @get("/{flow_id:int}/backtests/{backtest_id:int}", name="flows:backtest_status")
    async def backtest_status(
        self, request: HTMXRequest, flow_id: int, backtest_id: int, db_session: AsyncSession
    ) -> Template:
        try:
            run = await services.get_backtest(db_session, flow_id, backtest_id)
        except FlowError as exc:
            raise _not_found(exc) from None
        return Template("flows/_backtest.html", context={"run": run, "error": None, "flow_id": flow_id})

    @post("/{flow_id:int}/settings", name="flows:settings", status_code=200, opt=refusals_shown_by(settings_refused))
    async def update_settings(
        self, request: HTMXRequest, flow_id: int, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Template:
        try:
            priority = int(one(data, "priority") or "100")
        except ValueError:
            priority = 100_000_000  # refused by the service with its message
        flow = await services.update_settings(
            db_session,
            actor,
            flow_id,
            name=one(data, "name"),
            description=one(data, "description"),
            priority=priority,
            channels=many(data, "channels"),
            shop_codes=many(data, "shop_codes"),
            ip=client_ip(request),
        )
        return Template("flows/_settings.html", context=await settings_context(db_session, flow))

    @get("/{flow_id:int}/versions", name="flows:versions")
    async def versions(self, request: HTMXRequest, flow_id: int, db_session: AsyncSession) -> Template:
        return page(
            request, "flows/versions.html", "flows/_versions.html", **await versions_context(db_session, flow_id)
        )

    @post(
        "/{flow_id:int}/publish",
        name="flows:publish",
        opt={"permission": "flows.publish", **refusals_shown_by(versions_refused)},
        status_code=200,
    )
    async def publish(
        self, request: HTMXRequest, flow_id: int, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Template:
        version = await services.publish(db_session, actor, flow_id, one(data, "note"), ip=client_ip(request))
        message = gettext("Version %(number)s is live.") % {"number": version.number}
        return page(
            request,
            "flows/versions.html",
            "flows/_versions.html",
            **await versions_context(db_session, flow_id, message=message),
        )

    @post(
        "/{flow_id:int}/versions/{version_id:int}/rollback",
        name="flows:rollback",
        opt={"permission": "flows.publish", **refusals_shown_by(versions_refused)},
        status_code=200,
    )
    async def rollback(
        self, request: HTMXRequest, flow_id: int, version_id: int, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Template:
        version = await services.rollback(
            db_session, actor, flow_id, version_id, one(data, "note"), ip=client_ip(request)
        )
        message = gettext("Rolled back: version %(number)s is live.") % {"number": version.number}
        return page(
            request,
            "flows/versions.html",
            "flows/_versions.html",
            **await versions_context(db_session, flow_id, message=message),
        )

    @post(
        "/{flow_id:int}/canary",
        name="flows:canary_publish",
        opt={"permission": "flows.publish", **refusals_shown_by(versions_refused)},
        status_code=200,
    )
    async def publish_canary(
        self, request: HTMXRequest, flow_id: int, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Template:
        await canaries.publish_canary(
            db_session,
            actor,
            flow_id,
            one(data, "note"),
            shop_codes=many(data, "shop_codes"),
            percent=one(data, "percent") or None,
            hold_threshold=one(data, "hold_threshold"),
            failure_threshold=one(data, "failure_threshold"),
            min_orders=one(data, "min_orders"),
            ip=client_ip(request),
        )
        return await canary_changed(request, db_session, flow_id, gettext("Version %(number)s is running as a canary."))

    @post(
        "/{flow_id:int}/canary/promote",
        name="flows:canary_promote",
        opt={"permission": "flows.publish", **refusals_shown_by(versions_refused)},
        status_code=200,
    )
    async def promote_canary(
        self, request: HTMXRequest, flow_id: int, db_session: AsyncSession, actor: Actor
    ) -> Template:
        await canaries.promote(db_session, actor, flow_id, ip=client_ip(request))
        message = gettext("The canary is promoted: version %(number)s is live.")
        return await canary_changed(request, db_session, flow_id, message)

    @post(
        "/{flow_id:int}/canary/rollback",
        name="flows:canary_rollback",
        opt={"permission": "flows.publish", **refusals_shown_by(versions_refused)},
        status_code=200,
    )
    async def roll_back_canary(
        self, request: HTMXRequest, flow_id: int, db_session: AsyncSession, actor: Actor
    ) -> Template:
        await canaries.roll_back(db_session, actor, flow_id, ip=client_ip(request))
        message = gettext("The canary is rolled back: version %(number)s takes every order again.")
        return await canary_changed(request, db_session, flow_id, message)

    @post("/{flow_id:int}/versions/{version_id:int}/restore", name="flows:restore", status_code=303)
    async def restore(
        self, request: HTMXRequest, flow_id: int, version_id: int, db_session: AsyncSession, actor: Actor
    ) -> Redirect | ClientRedirect:
        try:
            await services.restore_to_draft(db_session, actor, flow_id, version_id, ip=client_ip(request))
        except FlowError as exc:
            raise _not_found(exc) from None
        target = request.app.route_reverse("flows:editor", flow_id=flow_id)
        return ClientRedirect(target) if request.htmx else Redirect(target, status_code=303)

    @get("/{flow_id:int}/diff", name="flows:diff")
    async def diff(
        self,
        request: HTMXRequest,
        flow_id: int,
        db_session: AsyncSession,
        left: Annotated[str, QueryParameter(name="left")] = "live",
        right: Annotated[str, QueryParameter(name="right")] = "draft",
    ) -> Template:
        flow = await _flow_or_404(db_session, flow_id)
        error = None
        try:
            left_label, left_doc = await services.document_at(db_session, flow, left)
            right_label, right_doc = await services.document_at(db_session, flow, right)
        except FlowError as exc:
            error = exc.message
            left_label, left_doc = "—", {"nodes": [], "edges": []}
            right_label, right_doc = "draft", flow.draft
        diff = services.diff_documents(left_doc, right_doc)
        return page(
            request,
            "flows/diff.html",
            flow=flow,
            versions=await services.list_versions(db_session, flow_id),
            left=left,
            right=right,
            left_label=left_label,
            right_label=right_label,
            left_doc=left_doc,
            right_doc=right_doc,
            diff=diff,
            node_status=diff.node_status(),
            palette=palette(flow.trigger),
            locale=current_locale.get(),
            error=error,
        )

    @get("/{flow_id:int}/export", name="flows:export")
    async def export(self, flow_id: int, db_session: AsyncSession) -> Response[dict[str, Any]]:
        flow = await _flow_or_404(db_session, flow_id)
        return Response(
            services.export_flow(flow),
            headers={"Content-Disposition": f'attachment; filename="flow-{flow_id}.json"'},
        )


def _province_groups() -> list[tuple[str, list[str]]]:
    from ruleflows import PROVINCES, region_of

    groups: dict[str, list[str]] = {region: [] for region in ruleflows.REGIONS}
    for province in PROVINCES:
        region = region_of(province)
        if region is not None:
            groups[region].append(province)
    return list(groups.items())


def palette(trigger: str | None = None) -> list[dict[str, Any]]:
    """The palette: 开始, 条件, 分支, each action a flow with this trigger may decide (an after-sales flow's case
    actions, else the order actions), 结束 — with what a new node starts with."""
    items: list[dict[str, Any]] = [
        {"key": "start", "type": "start", "label": gettext("Start"), "config": {}},
        {"key": "condition", "type": "condition", "label": gettext("Condition"), "config": {}},
        {
            "key": "switch",
            "type": "switch",
            "label": gettext("Switch"),
            "config": {"branches": [{"id": "b1", "label": gettext("Branch %(n)s") % {"n": 1}, "logic": None}]},
        },
    ]
    for name in ruleflows.actions_for(trigger):
        spec = ruleflows.ACTION_CATALOGUE[name]
        items.append(
            {
                "key": f"action:{name}",
                "type": "action",
                "label": panels.localised(spec),
                "config": {"action": name, "params": {}},
            }
        )
    items.append({"key": "end", "type": "end", "label": gettext("End"), "config": {}})
    return items


# ------------------------------------------------------------------------------------------------ API


class FlowsApiController(Controller):
    """Machine API for rule flows: GETs need the read scope, changes the admin scope."""

    path = "/api/v1/flows"
    tags = ["flows"]  # noqa: RUF012

    @get("/", name="api:flows", opt={"scope": "read"})
    async def list_flows(self, db_session: AsyncSession) -> list[FlowRead]:
        """Every flow, in the order they run."""
        return [FlowRead.of(flow) for flow in await services.list_flows(db_session)]

    @post("/", name="api:flows_create", opt={"scope": "admin"}, status_code=201)
    async def create(
        self, request: Request[Any, Any, Any], data: JSONBody[FlowCreate], db_session: AsyncSession, actor: Actor
    ) -> Response[Any]:
        """Create a flow: blank, from a shipped template, or from a document."""
        flow = await services.create_flow(
            db_session,
            actor,
            data.name,
            document=data.document,
            template=data.template,
            description=data.description,
            priority=data.priority,
            channels=data.channels,
            shop_codes=data.shop_codes,
            ip=client_ip(request),
        )
        return Response(self._detail(flow), status_code=201)

    @staticmethod
    def _detail(flow: Any) -> FlowDetail:
        return FlowDetail(
            **FlowRead.of(flow).model_dump(), draft=flow.draft, problems=problems_read(services.validate(flow.draft))
        )

    @post("/import", name="api:flows_import", opt={"scope": "admin"}, status_code=201)
    async def import_flow(
        self, request: Request[Any, Any, Any], data: JSONBody[dict[str, Any]], db_session: AsyncSession, actor: Actor
    ) -> Response[Any]:
        """Create a flow from an exported file."""
        flow = await services.import_flow(db_session, actor, data, ip=client_ip(request))
        return Response(self._detail(flow), status_code=201)

    @get("/{flow_id:int}", name="api:flow", opt={"scope": "read"})
    async def detail(self, flow_id: int, db_session: AsyncSession) -> Response[Any]:
        """A flow with its draft and the draft's problems."""
        return Response(self._detail(await services.get_flow(db_session, flow_id)))

    @put("/{flow_id:int}/draft", name="api:flow_draft", opt={"scope": "admin"})
    async def save_draft(
        self,
        request: Request[Any, Any, Any],
        flow_id: int,
        data: JSONBody[DraftSave],
        db_session: AsyncSession,
        actor: Actor,
    ) -> Response[Any]:
        """Save the draft; 409 when ``base_revision`` is not the current one."""
        flow, _ = await services.save_draft(
            db_session, actor, flow_id, data.document, base_revision=data.base_revision, ip=client_ip(request)
        )
        return Response(self._detail(flow))

    @post(
        "/{flow_id:int}/validate", name="api:flow_validate", opt={"scope": "read", "read_only": True}, status_code=200
    )
    async def validate(self, flow_id: int, data: JSONBody[DocumentCheck], db_session: AsyncSession) -> Response[Any]:
        """Validate a document (default: the saved draft). Changes nothing."""
        flow = await services.get_flow(db_session, flow_id)
        # A document of the largest size takes a noticeable time to check: not on the event loop.
        document = data.document if data.document is not None else flow.draft
        problems = await services.evaluate_off_loop(services.validate, document)
        return Response(ValidationRead(valid=not problems, problems=problems_read(problems)))

    @post(
        "/{flow_id:int}/simulate", name="api:flow_simulate", opt={"scope": "read", "read_only": True}, status_code=200
    )
    async def simulate(
        self, flow_id: int, data: JSONBody[SimulateRequest], db_session: AsyncSession, settings: Settings
    ) -> Response[Any]:
        """Run a document (default: the draft) on a sample or a given order; returns the decisions and trace."""
        flow = await services.get_flow(db_session, flow_id)
        if data.order is not None:
            try:
                order = sources.OrderContext("pasted", "pasted", context_from_payload(data.order))
            except ValueError as exc:
                return Response(
                    {"status_code": 400, "error": "bad_order", "detail": str(exc), "field": "order"}, status_code=400
                )
        else:
            found = await sources.context_for(db_session, data.sample or "", secret_key=settings.secret_key)
            if found is None:
                return Response(
                    {
                        "status_code": 400,
                        "error": "unknown_sample",
                        "detail": "give order or a known sample",
                        "field": "sample",
                    },
                    status_code=400,
                )
            order = found
        document = data.document if data.document is not None else flow.draft
        world = await services.backtest_world(db_session, [order])
        simulation = await services.simulate(document, order, world=world)
        return Response(simulation.to_dict())

    @post("/{flow_id:int}/backtests", name="api:flow_backtest", opt={"scope": "admin"}, status_code=202)
    async def backtest(
        self,
        request: Request[Any, Any, Any],
        flow_id: int,
        data: JSONBody[BacktestRequest],
        db_session: AsyncSession,
        actor: Actor,
    ) -> Response[Any]:
        """Start a backtest of the draft against the live version; poll it by its id."""
        run = await services.start_backtest(db_session, actor, flow_id, data.orders, ip=client_ip(request))
        return Response(BacktestRead.of(run), status_code=202)

    @get("/{flow_id:int}/backtests/{backtest_id:int}", name="api:flow_backtest_status", opt={"scope": "read"})
    async def backtest_status(self, flow_id: int, backtest_id: int, db_session: AsyncSession) -> Response[Any]:
        """A backtest's progress, and its result when done."""
        return Response(BacktestRead.of(await services.get_backtest(db_session, flow_id, backtest_id)))

    @post("/{flow_id:int}/publish", name="api:flow_publish", opt={"scope": "admin"}, status_code=201)
    async def publish(
        self,
        request: Request[Any, Any, Any],
        flow_id: int,
        data: JSONBody[PublishRequest],
        db_session: AsyncSession,
        actor: Actor,
    ) -> Response[Any]:
        """Publish the draft as a new live version; 422 with the problems if it has any."""
        version = await services.publish(
            db_session, actor, flow_id, data.note, expected_revision=data.expected_revision, ip=client_ip(request)
        )
        return Response(VersionRead.of(version, version.id), status_code=201)

    @get("/{flow_id:int}/versions", name="api:flow_versions", opt={"scope": "read"})
    async def versions(self, flow_id: int, db_session: AsyncSession) -> Response[Any]:
        """The published versions, newest first."""
        flow = await services.get_flow(db_session, flow_id)
        return Response(
            [VersionRead.of(v, flow.live_version_id) for v in await services.list_versions(db_session, flow_id)]
        )

    @get("/{flow_id:int}/versions/{version_id:int}", name="api:flow_version", opt={"scope": "read"})
    async def version(self, flow_id: int, version_id: int, db_session: AsyncSession) -> Response[Any]:
        """One version with its document."""
        flow = await services.get_flow(db_session, flow_id)
        version = await services.get_version(db_session, flow_id, version_id)
        return Response(VersionRead.of(version, flow.live_version_id, with_document=True))

    @get("/{flow_id:int}/diff", name="api:flow_diff", opt={"scope": "read"})
    async def diff(
        self,
        flow_id: int,
        db_session: AsyncSession,
        left: Annotated[str, QueryParameter(name="left", description="version id, live or draft")] = "live",
        right: Annotated[str, QueryParameter(name="right", description="version id, live or draft")] = "draft",
    ) -> Response[Any]:
        """Nodes and edges added, removed and changed between two versions (or the draft)."""
        flow = await services.get_flow(db_session, flow_id)
        _, left_doc = await services.document_at(db_session, flow, left)
        _, right_doc = await services.document_at(db_session, flow, right)
        return Response(services.diff_documents(left_doc, right_doc).to_dict())

    @post("/{flow_id:int}/rollback", name="api:flow_rollback", opt={"scope": "admin"}, status_code=201)
    async def rollback(
        self,
        request: Request[Any, Any, Any],
        flow_id: int,
        data: JSONBody[RollbackRequest],
        db_session: AsyncSession,
        actor: Actor,
    ) -> Response[Any]:
        """Publish a copy of an older version as the live one."""
        version = await services.rollback(db_session, actor, flow_id, data.version_id, data.note, ip=client_ip(request))
        return Response(VersionRead.of(version, version.id), status_code=201)

    @get("/{flow_id:int}/export", name="api:flow_export", opt={"scope": "read"})
    async def export(self, flow_id: int, db_session: AsyncSession) -> Response[Any]:
        """The flow as a portable JSON file."""
        return Response(services.export_flow(await services.get_flow(db_session, flow_id)))
