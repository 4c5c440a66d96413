"""6.2.1 risks and opportunities: the heat map (likelihood × impact on the 5 × 5 grid, before or after
treatment), each cell listing its entries. The register itself is the generic record list
(/records/risk_opportunity)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from engine.records.queries import names_in
from web.deps import Member, OrgSession
from web.templating import render
from workflows.hooks.risk_opportunity import INHERENT, LEVELS, RESIDUAL, WORKFLOW, heat_map, level_of

router = APIRouter()
Rating = Annotated[int | None, Query(ge=1, le=5)]


@router.get("/risks/heatmap")
def heatmap_page(
    request: Request,
    principal: Member,
    session: OrgSession,
    mode: Literal["inherent", "residual"] = "inherent",
    nature: Literal["", "risk", "opportunity"] = "",
    likelihood: Rating = None,
    impact: Rating = None,
) -> Response:
    assert principal.org is not None
    workflow = request.app.state.catalog.get(WORKFLOW)
    cell = (likelihood, impact) if likelihood is not None and impact is not None else None
    grid = heat_map(session, mode=mode, nature=nature or None, cell=cell)
    chart = {
        "mode": mode,
        "nature": nature,
        "cells": [
            [
                impact_ - 1,
                likelihood_ - 1,
                grid.counts.get((likelihood_, impact_), 0),
                level_of(likelihood_ * impact_),
            ]
            for likelihood_ in range(1, 6)
            for impact_ in range(1, 6)
        ],
    }
    return render(
        request,
        "risks/heatmap.html",
        {
            "workflow": workflow,
            "grid": grid,
            "mode": mode,
            "other_mode": RESIDUAL if mode == INHERENT else INHERENT,
            "nature": nature,
            "cell": cell,
            "levels": LEVELS,
            "level_of": level_of,
            "chart": chart,
            "names": names_in(session, org_id=principal.org.id, workflow=workflow, records=grid.records),
        },
    )
