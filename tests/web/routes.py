"""Every route of the app with its declared rule, for the generated security tests."""

from dataclasses import dataclass

from fastapi.routing import APIRoute, iter_route_contexts

from web.deps import RoleRequirement

PUBLIC_PATHS = {"/login", "/locale", "/healthz", "/readyz", "/metrics", "/ping"}


@dataclass(frozen=True)
class RouteRule:
    method: str
    path: str
    requirement: RoleRequirement | None  # None: public

    @property
    def is_api(self) -> bool:
        return self.path.startswith("/api/")

    @property
    def is_unsafe(self) -> bool:
        return self.method in {"POST", "PUT", "PATCH", "DELETE"}

    def allows(self, roles: frozenset[str]) -> bool:
        return self.requirement is None or not self.requirement.roles or bool(self.requirement.roles & roles)


def _requirement(route: APIRoute) -> RoleRequirement | None:
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if isinstance(dependency.call, RoleRequirement):
            return dependency.call
        pending.extend(dependency.dependencies)
    return None


def route_rules(app) -> list[RouteRule]:
    """Every API route (included routers are resolved through FastAPI's route contexts)."""
    rules = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        for method in sorted(context.methods - {"HEAD"}):
            rule = RouteRule(method=method, path=context.path, requirement=_requirement(route))
            if rule.requirement is None and rule.path not in PUBLIC_PATHS:
                raise AssertionError(f"{method} {rule.path} declares no role requirement and is not public")
            rules.append(rule)
    return rules
