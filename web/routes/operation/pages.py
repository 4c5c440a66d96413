"""8.7 carbon assets: per compliance year, the verified emissions against the allowances held, the CCER
usable up to the offset limit, what is surrendered, the shortfall or surplus and the surrender deadline.
The ledger and the compliance years themselves are the generic record pages."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from engine.workflow.computed import china_today
from web.deps import Member, OrgSession
from web.templating import render
from workflows.hooks.carbon_assets import LEDGER, OFFSET_LIMIT, YEARS, balances

router = APIRouter()


@router.get("/carbon-assets")
def carbon_assets_page(
    request: Request,
    principal: Member,
    session: OrgSession,
    year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
) -> Response:
    assert principal.org is not None
    years = balances(session, org_id=principal.org.id)
    chosen = next((b for b in years if b.year == year), years[0] if years else None)
    catalog = request.app.state.catalog
    chart = [
        {
            "year": b.year,
            "verified": float(b.verified) if b.verified is not None else None,
            "held": float(b.held),
            "ccer": float(b.ccer_usable + b.surrendered_ccer),
            "surrendered": float(b.surrendered_cea + b.surrendered_ccer),
        }
        for b in reversed(years)
    ]
    return render(
        request,
        "operation/carbon_assets.html",
        {
            "years": years,
            "chosen": chosen,
            "ledger": catalog.get(LEDGER),
            "compliance": catalog.get(YEARS),
            "offset_percent": int(OFFSET_LIMIT * 100),
            "today": china_today(),
            "chart": chart,
        },
        whole_page_only=True,
    )
