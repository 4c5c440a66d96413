"""The FastAPI application factory."""

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import text
from sqlmodel import select

from engine.config import Settings, get_settings
from engine.db import Database
from engine.migrate import schema_status
from engine.models import Organization


def create_app(*, settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    db = db or Database.from_settings(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        status = schema_status(db.engine)  # refuses a newer schema than this code
        if not status.up_to_date:
            raise RuntimeError("the database schema is not up to date: run `tanguan db upgrade`")
        yield
        db.dispose()

    app = FastAPI(title="碳管 Tanguan", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.db = db

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        try:
            with db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            status = schema_status(db.engine)
        except Exception as exc:  # the probe reports, it does not crash
            return JSONResponse({"status": "error", "database": type(exc).__name__}, status_code=503)
        return JSONResponse(
            {
                "status": "ok",
                "database": db.engine.dialect.name,
                "schema": status.current,
                "schema_up_to_date": status.up_to_date,
            }
        )

    @app.get("/", response_class=HTMLResponse)
    def organizations(request: Request) -> HTMLResponse:
        from html import escape

        with db.read_session(all_orgs=True) as session:
            orgs = session.exec(select(Organization).order_by(Organization.name)).all()
        items = "".join(f"<li>{escape(o.name)} <small>{escape(o.slug)}</small></li>" for o in orgs)
        return HTMLResponse(
            f"<!doctype html><title>碳管 Tanguan</title><h1>碳管 Tanguan</h1><ul>{items}</ul>"
        )

    return app
