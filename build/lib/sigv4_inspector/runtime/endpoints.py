"""botocore's endpoint data for the core's :class:`~sigv4_inspector.core.endpoints.Endpoints`:
each partition's region pattern (the 7 KB ``partitions`` data; the 1.2 MB ``endpoints``
data, which older botocore releases alone have, cost 150 M instructions to load for the
same patterns) and signing names from service models, read when first asked."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sigv4_inspector.core.endpoints import FALLBACK_REGION_PATTERNS, Endpoints


def _region_patterns() -> tuple[str, ...]:
    for name in ("partitions", "endpoints"):
        try:
            import botocore.loaders

            data: Any = botocore.loaders.create_loader().load_data(name)
            return tuple(str(p["regionRegex"]) for p in data["partitions"])
        except Exception:  # this release lacks it (or it is unreadable): the next one
            continue
    return FALLBACK_REGION_PATTERNS  # pragma: no cover


def _signing_name(prefix: str) -> str | None:
    """The signing name of the service whose endpoint prefix is ``prefix``, from botocore's
    service model when one is named like it."""
    try:
        import botocore.loaders

        model: Any = botocore.loaders.create_loader().load_service_model(prefix, "service-2")
    except Exception:
        return None
    meta = model.get("metadata", {})
    if meta.get("endpointPrefix") == prefix:
        return str(meta.get("signingName") or prefix)
    return None


@lru_cache(maxsize=1)
def botocore_endpoints() -> Endpoints:
    """The endpoint data of the installed botocore (loaded once)."""
    return Endpoints(_region_patterns(), _signing_name)
