"""The panel's JSON API, for automation: what the pages do, with bearer tokens (OpenAPI at /docs)."""

from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, SecretStr, ValidationError

from contracts.configuration import SERVICES, OperatorConfiguration, problems_of
from contracts.directory import DirectoryParameters
from contracts.requests import DirectoryConnectionReply
from runtime.event_chain import chain

from . import credentials, directory, maintenance, operations, operators, recovery
from .adapters.accounts import Accounts
from .adapters.bus import Unavailable
from .adapters.store import Panel, Provider
from .domain.accounts import OPERATOR, PROVIDER_ADMIN
from .domain.directory_form import refused
from .domain.form import FieldProblems
from .domain.wording import describe_plan, plan_summary
from .web.admin import operator_detail
from .web.context import Context
from .web.security import NotFound

API = "api token"
"""How an audit record says something was done through the JSON API."""

bearer = HTTPBearer(
    auto_error=False,
    description="An API token: `fedi operator create NAME` prints one, and a logged-in user makes one at /account/token.",
)


@dataclass(frozen=True)
class Principal:
    role: str
    operator_id: str | None
    actor: str = ""
    """Who, for the audit log: the user's e-mail, or the operator for an operator's own token."""


class Disable(BaseModel):
    data: Literal["keep", "delete"] = Field(description="Keep the service's stored data (it comes back when switched on again) or delete it for good.")


class Choice(BaseModel):
    kind: Literal["window", "apply_now", "defer"] = Field(
        description="window: updates start in this weekly window from now on; apply_now: update at once; defer: not before defer_until."
    )
    campaign_id: str | None = Field(default=None, description="With apply_now and defer: the update it is for.")
    window: dict[str, Any] | None = Field(
        default=None, description="With window: day, start (HH:MM), duration_minutes, timezone (IANA).",
        examples=[{"day": "sunday", "start": "02:00", "duration_minutes": 240, "timezone": "Europe/Amsterdam"}],
    )
    defer_until: str | None = Field(default=None, description="With defer: the date (YYYY-MM-DD) the update waits for.", examples=["2030-06-30"])


class Removal(BaseModel):
    confirm: str = Field(description="The operator's name, typed again to confirm.")
    reason: str = Field(default="", max_length=500)


class DirectoryConnection(BaseModel):
    parameters: DirectoryParameters
    bind_password: SecretStr = Field(
        min_length=1, description="The bind DN's password: passed to identity, which keeps it encrypted; never kept or shown by the panel."
    )


def _answered(reply: DirectoryConnectionReply) -> JSONResponse:
    return JSONResponse(reply.model_dump(mode="json"), status_code=directory.answer_status(reply))


def _http(code: int, detail: str) -> HTTPException:
    return HTTPException(code, detail)


def router(context: Context) -> APIRouter:
    api = APIRouter(prefix="/api/v1")

    async def principal(credentials_: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
        if credentials_ is not None:
            token_hash = operators.hash_token(credentials_.credentials)
            async with context.units.database.reader() as session:
                operator_id = await Panel(session).operator_of_token(token_hash)
                user = None if operator_id else await Accounts(session).user_of_token(token_hash)
            if operator_id:
                return Principal(OPERATOR, operator_id, operator_id)
            if user:
                return Principal(user.role, user.operator_id, user.email)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a valid API token is required", headers={"WWW-Authenticate": "Bearer"})

    async def operator_principal(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.role != OPERATOR or not who.operator_id:
            raise _http(status.HTTP_403_FORBIDDEN, "this needs an operator's token")
        return who

    async def operator(who: Annotated[Principal, Depends(operator_principal)]) -> str:
        return who.operator_id

    async def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.role != PROVIDER_ADMIN:
            raise _http(status.HTTP_403_FORBIDDEN, "this needs a provider admin's token")
        return who

    Operator = Annotated[str, Depends(operator)]
    OperatorPrincipal = Annotated[Principal, Depends(operator_principal)]
    Admin = Annotated[Principal, Depends(admin)]

    def accepted(view) -> dict:
        return {"deployment_id": view.id, "revision": view.revision, "status": f"/api/v1/deployments/{view.id}"}

    async def submit(who: Principal, configuration: OperatorConfiguration, intent: str) -> dict:
        try:
            async with context.units() as uow:
                view = await operators.submit(who.operator_id, configuration, uow)
        except operators.RemovalRequested as exc:
            raise _http(status.HTTP_409_CONFLICT, str(exc)) from None
        await context.auditor.record(who.actor, "config.submitted", who.operator_id, deployment=view.id, revision=str(view.revision),
                                     intent=intent, via=API)
        return accepted(view)

    @api.get("/configuration")
    async def get_configuration(operator_id: Operator) -> dict:
        """The operator's current configuration: its newest revision that did not fail, was not refused and was not cancelled."""
        async with context.units.database.reader() as session:
            configuration = await operators.current_configuration(session, operator_id)
        if configuration is None:
            raise _http(status.HTTP_404_NOT_FOUND, "no configuration submitted yet")
        return configuration.model_dump(mode="json", by_alias=True)

    @api.post("/configuration", status_code=status.HTTP_202_ACCEPTED)
    async def submit_configuration(configuration: OperatorConfiguration, who: OperatorPrincipal) -> dict:
        """Submit a new configuration revision; it is planned and deployed."""
        return await submit(who, configuration, "apply this configuration")

    @api.post("/plan-preview")
    async def plan_preview(configuration: OperatorConfiguration, operator_id: Operator) -> dict:
        """What this configuration would create, change and remove, in words; nothing is deployed."""
        document = configuration.model_dump(mode="json", by_alias=True)
        try:
            plan = await context.planner.preview(operator_id, document)
        except Unavailable as exc:
            raise _http(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
        services = describe_plan(plan.changes, plan.resources)
        return {
            "summary": plan_summary(services),
            "services": [asdict(service) for service in services],
            "changes": [change.model_dump(mode="json") for change in plan.changes],
            "problems": [problem.model_dump() for problem in plan.problems],
        }

    @api.post("/services/{service}/disable", status_code=status.HTTP_202_ACCEPTED)
    async def disable_service(service: str, choice: Disable, who: OperatorPrincipal) -> dict:
        """Switch a service off, keeping or deleting its data as chosen; submitted like a configuration."""
        async with context.units.database.session() as session:
            current = await operators.current_configuration(session, who.operator_id)
        if service not in SERVICES or current is None or not current.service(service).enable:
            raise _http(status.HTTP_404_NOT_FOUND, f"{service} is not running")
        document = current.model_dump(mode="json", by_alias=True)
        document[service] |= {"enable": False, "dataOnDisable": choice.data}
        try:
            configuration = OperatorConfiguration.model_validate(document)
        except ValidationError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, {"problems": problems_of(exc)}) from None
        return await submit(who, configuration, f"switch off {service}, {choice.data} its data")

    @api.get("/deployments")
    async def list_deployments(operator_id: Operator) -> list[dict]:
        """Every deployment of the operator, newest first."""
        async with context.units.database.reader() as session:
            return [view.as_dict() for view in await Panel(session).deployments(operator_id)]

    @api.get("/deployments/{deployment_id}")
    async def get_deployment(deployment_id: str, operator_id: Operator) -> dict:
        """One deployment: state, steps, progress, ETA, URLs or the reason it failed."""
        async with context.units.database.reader() as session:
            view = await Panel(session).deployment(operator_id, deployment_id)
        if view is None:
            raise _http(status.HTTP_404_NOT_FOUND, "no such deployment")
        return view.as_dict()

    async def recover(deployment_id: str, who: Principal, how: str) -> dict:
        try:
            view = await recovery.resubmit(context, who.operator_id, deployment_id, how, who.actor, via=API)
        except recovery.NoSuchDeployment:
            raise _http(status.HTTP_404_NOT_FOUND, "no such deployment") from None
        except (recovery.NotNow, operators.RemovalRequested) as exc:
            raise _http(status.HTTP_409_CONFLICT, str(exc)) from None
        return accepted(view)

    @api.post("/deployments/{deployment_id}/retry", status_code=status.HTTP_202_ACCEPTED)
    async def retry_deployment(deployment_id: str, who: OperatorPrincipal) -> dict:
        """Submit a failed deployment's configuration again, as a new revision (only the newest deployment, once it failed)."""
        return await recover(deployment_id, who, recovery.RETRY)

    @api.post("/deployments/{deployment_id}/rollback", status_code=status.HTTP_202_ACCEPTED)
    async def roll_back_deployment(deployment_id: str, who: OperatorPrincipal) -> dict:
        """Instead of a failed deployment's configuration, submit at once the one of the operator's last succeeded deployment,
        as a new revision (only the newest deployment, once it failed; 409 when none succeeded). The data of every service it
        switches off is kept: their machines are shut down with their disks, their media kept, access closed. To see first what
        it creates, changes and removes, post that configuration (GET /api/v1/configuration while the failed deployment is the
        newest), with `dataOnDisable` "keep" for the services it switches off, to /api/v1/plan-preview; the web panel shows
        that review and asks whether to keep or delete such data before deploying."""
        return await recover(deployment_id, who, recovery.ROLL_BACK)

    @api.get("/deployments/{deployment_id}/trace")
    async def get_trace(deployment_id: str, operator_id: Operator) -> list[dict]:
        """The deployment's events in causal order, with depth under their cause and time since the first."""
        await get_deployment(deployment_id, operator_id)
        try:
            links = chain(await context.trail.events(deployment_id))
        except Unavailable as exc:
            raise _http(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
        return [
            {"depth": link.depth, "offset_seconds": link.offset_seconds, "summary": link.summary, **link.event.as_dict()}
            for link in links
        ]

    @api.get("/credentials")
    async def list_credentials(operator_id: Operator) -> list[dict]:
        """The operator's service admin accounts, and whether each password was already shown."""
        async with context.units.database.reader() as session:
            found = await Panel(session).admin_accounts(operator_id)
        return [{"service": c.service, "username": c.username, "revealed": c.revealed_at is not None} for c in found]

    @api.post("/credentials/{service}/reveal")
    async def reveal_credential(service: str, who: OperatorPrincipal) -> dict:
        """The admin password of a service, once: afterwards this answers 410 Gone."""
        try:
            account, password = await credentials.reveal_audited(context, who.operator_id, service, who.actor, via=API)
        except credentials.NoSuchCredential as exc:
            raise _http(status.HTTP_404_NOT_FOUND, str(exc)) from None
        except credentials.AlreadyRevealed as exc:
            raise _http(status.HTTP_410_GONE, str(exc)) from None
        except Unavailable:
            raise _http(status.HTTP_503_SERVICE_UNAVAILABLE, "the password could not be fetched; it was not shown") from None
        return {"service": account.service, "username": account.username, "password": password}

    @api.post("/account/removal", status_code=status.HTTP_202_ACCEPTED)
    async def request_removal(removal: Annotated[Removal, Body()], who: OperatorPrincipal) -> dict:
        """Delete the operator's account and everything it runs (asks the configurator to remove it all)."""
        operator_id = who.operator_id
        if removal.confirm != operator_id:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, {"problems": [{"field": "confirm", "message": "must be your operator name"}]}
            )
        try:
            async with context.units() as uow:
                await operators.request_removal(operator_id, removal.reason, uow)
        except operators.RemovalRequested as exc:
            raise _http(status.HTTP_409_CONFLICT, str(exc)) from None
        await context.auditor.record(who.actor, "account.removal_requested", operator_id, via=API)
        return {"operator": operator_id, "removal": "requested"}

    @api.get("/maintenance")
    async def get_maintenance(operator_id: Operator) -> dict:
        """Provider updates: the notices (newest first), where each update stands, the maintenance window in effect."""
        shown = await maintenance.overview(context, operator_id)
        return {
            "unread": shown["unread"],
            "window": shown["window"].model_dump() if shown["window"] else None,
            "own_window": shown["own_window"],
            "window_refused": shown["window_refused"] or None,
            "updates": [asdict(update) for update in shown["updates"]],
            "notices": shown["notices"],
        }

    @api.post("/maintenance/choice", status_code=status.HTTP_202_ACCEPTED)
    async def choose(choice: Choice, who: OperatorPrincipal) -> dict:
        """Choose a weekly maintenance window, apply an update now, or defer it; the configurator may still refuse (see GET)."""
        try:
            if choice.kind == "window":
                await maintenance.choose_window(context, who.operator_id, who.actor, choice.window or {})
            elif choice.kind == "apply_now":
                await maintenance.apply_now(context, who.operator_id, who.actor, choice.campaign_id or "")
            else:
                await maintenance.defer(context, who.operator_id, who.actor, choice.campaign_id or "", choice.defer_until or "")
        except FieldProblems as exc:
            problems = [{"field": name if name == "defer_until" else f"window.{name}", "message": message} for name, message in exc.problems.items()]
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, {"problems": problems}) from None
        except maintenance.NoSuchUpdate:
            raise _http(status.HTTP_404_NOT_FOUND, "no such update of yours") from None
        except maintenance.NotWaiting as exc:
            raise _http(status.HTTP_409_CONFLICT, str(exc)) from None
        return {"kind": choice.kind, "campaign_id": choice.campaign_id, "sent": True}

    def checked(connection: DirectoryConnection) -> tuple[DirectoryParameters, str]:
        problems = refused(connection.parameters.url, connection.parameters.mapping)
        if problems:
            listed = [{"field": f"parameters.{name}", "message": message} for name, message in problems.items()]
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, {"problems": listed})
        return connection.parameters, connection.bind_password.get_secret_value()

    @api.get("/directory")
    async def get_directory(operator_id: Operator) -> dict:
        """Your own LDAP directory: the connection identity keeps (its parameters, never the password; null until connected)
        and every sync's report, newest first (trigger connect, demand or schedule; the counts and any warnings, such as a mapped group
        not found, or the problem and reason)."""
        shown = await directory.overview(context, operator_id)
        connection = shown["connection"]
        return {
            "connection": {**asdict(connection), "parameters": connection.parameters.model_dump()} if connection else None,
            "syncs": shown["syncs"],
        }

    @api.post("/directory/check", responses={422: {"description": "identity could not read the directory: its problem and reason"},
                                             503: {"description": "identity did not answer"}})
    async def check_directory(connection: DirectoryConnection, operator_id: Operator) -> JSONResponse:
        """Can identity read your directory with these parameters and password? The users and groups it found; nothing is kept."""
        parameters, password = checked(connection)
        return _answered(await directory.check(context, operator_id, parameters, password))

    @api.post("/directory", responses={422: {"description": "identity could not read the directory: its problem and reason"},
                                       503: {"description": "identity did not answer"}})
    async def connect_directory(connection: DirectoryConnection, who: OperatorPrincipal) -> JSONResponse:
        """Connect your directory: checked as /directory/check, then identity keeps it (the password encrypted) and syncs it at once;
        the sync's report follows in GET /directory."""
        parameters, password = checked(connection)
        return _answered(await directory.connect(context, who.operator_id, who.actor, parameters, password, via=API))

    @api.post("/directory/sync", status_code=status.HTTP_202_ACCEPTED)
    async def sync_directory(who: OperatorPrincipal) -> dict:
        """Sync your directory now; its report (or why it could not run) follows in GET /directory."""
        correlation_id = await directory.sync_now(context, who.operator_id, who.actor, via=API)
        return {"sync": "requested", "correlation_id": correlation_id}

    @api.get("/admin/operators")
    async def admin_operators(_admin: Admin) -> list[dict]:
        """Every operator with their latest deployment, storage use and what their last succeeded deployment holds
        (`holds`: vms, cores, memory_mib, disk_gib, buckets, dns_records) (provider admins)."""
        async with context.units.database.reader() as session:
            return await Provider(session).operators()

    @api.get("/admin/operators/{operator_id}")
    async def admin_operator(operator_id: str, _admin: Admin) -> dict:
        """One operator: configuration, deployments, storage use (provider admins)."""
        try:
            detail = await operator_detail(context, operator_id)
        except NotFound:
            raise _http(status.HTTP_404_NOT_FOUND, "no such operator") from None
        configuration = detail["configuration"]
        return {
            "id": operator_id,
            "email": detail["email"],
            "removal_requested_at": detail["operator"].removal_requested_at,
            "configuration": configuration.model_dump(mode="json", by_alias=True) if configuration else None,
            "deployments": detail["deployments"],
            "usage": [{"bucket": u.bucket, "bytes": u.bytes, "objects": u.objects, "reported_at": u.reported_at} for u in detail["usage"]],
            "holds": detail["holds"],
        }

    @api.get("/admin/bus-health")
    async def bus_health(_admin: Admin) -> dict:
        """Each consumer's backlog and redeliveries (lagging ones marked), the dead letters, and planned or running
        deployments that have gone quiet, with their last event (provider admins)."""
        return operations.board_json(await operations.bus_board(context))

    @api.get("/admin/audit")
    async def audit(_admin: Admin, actor: str = "", action: str = "", days: int = 7) -> list[dict]:
        """Who did what from the panel and the command line, newest first; `action` matches as a prefix (provider admins)."""
        try:
            records = await operations.audit_log(context, actor, action, operations.audit_days(days))
        except Unavailable as exc:
            raise _http(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
        return [record.model_dump(mode="json") for record in records]

    return api
