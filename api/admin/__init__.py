"""The back office: server-rendered pages under /admin (Starlette + Jinja2 + vendored htmx).

`routes()` collects `ROUTES` from every module of `api.admin.pages` (a new page module needs no edit
here), builds each as a guarded Starlette route (see routing.py), and adds the static files. `create_app`
mounts the result at /admin unless NGUVU_ADMIN is off.
"""

from __future__ import annotations

import importlib
import pkgutil

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

import api.admin.pages as pages_package
from api.admin.routing import AdminRoute, starlette_route

STATIC_PATH = "/static"


def page_routes() -> list[AdminRoute]:
    """Every AdminRoute of every page module, in module order."""
    found: list[AdminRoute] = []
    for info in sorted(pkgutil.iter_modules(pages_package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{pages_package.__name__}.{info.name}")
        for route in getattr(module, "ROUTES", ()):
            if not isinstance(route, AdminRoute):
                raise TypeError(f"api.admin.pages.{info.name}.ROUTES holds a {type(route).__name__}")
            found.append(route)
    return found


def mount(routes: list[AdminRoute]) -> Mount:
    """The /admin mount: the guarded pages and the static assets (public: CSS, htmx, licences)."""
    static = StaticFiles(packages=[("api.admin", "static")])
    built: list[BaseRoute] = [starlette_route(r) for r in routes]
    built.append(Mount(STATIC_PATH, app=static, name="admin-static"))
    return Mount("/admin", routes=built)
