"""The dashboard: sales today / 7 / 30 days, failed and held payments, the SMS outbox, meter pushes."""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.admin import i18n
from api.admin.chart import sales_chart
from api.admin.render import money, render, units
from api.admin.routing import EVERYONE, AdminRoute
from api.db import reading
from api.queries.dashboard import Dashboard, DaySales, dashboard
from api.service import Service


def _describer(lang: str) -> Callable[[DaySales], str]:
    """A bar's tooltip: the day, kWh, vends and the money per currency."""

    def describe(day: DaySales) -> str:
        text = i18n.text(
            lang,
            "dashboard.tooltip",
            day=day.day.strftime("%d/%m/%Y"),
            units=units(day.units),
            vends=day.vends,
        )
        return text + "".join(f" · {money(amount, cur)}" for cur, amount in sorted(day.amounts.items()))

    return describe


async def show(request: Request) -> Response:
    service: Service = request.app.state.service

    def read() -> Dashboard:
        with reading(service.engine) as session:
            return dashboard(session, now=service.clock(), zone=service.settings.zone)

    figures = await run_in_threadpool(read)
    chart = sales_chart(figures.series, _describer(request.state.lang))
    return render(request, "dashboard/index.html", figures=figures, chart=chart)


ROUTES = [
    AdminRoute("/", show, ("GET",), EVERYONE, name="dashboard", menu="nav.dashboard", order=10),
]
