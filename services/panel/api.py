"""The panel's JSON API (OpenAPI served at /docs and /openapi.json)."""

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from contracts.configuration import OperatorConfiguration, problems_of
from runtime.uow import UnitsOfWork

from . import operators
from .adapters.store import Panel

bearer = HTTPBearer(auto_error=False, description="The operator's API token (`fedi operator create NAME` prints one).")


def create_app(units: UnitsOfWork) -> FastAPI:
    app = FastAPI(
        title="FediPanel API",
        version="1",
        description="Submit an operator's configuration and follow its deployments.",
    )

    @app.exception_handler(RequestValidationError)
    async def field_level_reasons(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = problems_of(exc, strip=("body",))
        return JSONResponse(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            content={"detail": "the configuration is not valid", "problems": problems},
        )

    async def operator(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
        if credentials is not None:
            async with units.database.session() as session:
                operator_id = await Panel(session).operator_of_token(operators.hash_token(credentials.credentials))
            if operator_id:
                return operator_id
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "a valid API token is required", headers={"WWW-Authenticate": "Bearer"}
        )

    Operator = Annotated[str, Depends(operator)]

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.post("/api/v1/configuration", status_code=status.HTTP_202_ACCEPTED)
    async def submit_configuration(configuration: OperatorConfiguration, operator_id: Operator) -> dict:
        """Submit a new configuration revision; it is planned and deployed."""
        async with units() as uow:
            view = await operators.submit(operator_id, configuration, uow)
        return {"deployment_id": view.id, "revision": view.revision, "status": f"/api/v1/deployments/{view.id}"}

    @app.get("/api/v1/deployments")
    async def list_deployments(operator_id: Operator) -> list[dict]:
        """Every deployment of the operator, newest first."""
        async with units.database.session() as session:
            return [view.as_dict() for view in await Panel(session).deployments(operator_id)]

    @app.get("/api/v1/deployments/{deployment_id}")
    async def get_deployment(deployment_id: str, operator_id: Operator) -> dict:
        """One deployment: state, steps, progress, ETA, URLs or the reason it failed."""
        async with units.database.session() as session:
            view = await Panel(session).deployment(operator_id, deployment_id)
        if view is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such deployment")
        return view.as_dict()

    return app
