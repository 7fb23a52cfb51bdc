"""Which connector routers the server mounts for a runtime (event intake per system type)."""

from __future__ import annotations

from typing import Any

from b24sync.engine.runtime import Runtime


def routers_for(rt: Runtime) -> list[Any]:
    routers: list[Any] = []
    for name, system in rt.spec.systems.items():
        factory = ROUTERS.get(system.type)
        if factory is not None:
            routers.append(factory(rt, name, system.config()))
    return routers


# system type -> factory(rt, system_name, config) -> APIRouter
ROUTERS: dict[str, Any] = {}


def _bitrix24(rt: Runtime, system_name: str, config: dict[str, Any]) -> Any:
    from b24sync.server.bitrix24_events import bitrix24_router

    return bitrix24_router(rt, system_name, config)


ROUTERS["bitrix24"] = _bitrix24
