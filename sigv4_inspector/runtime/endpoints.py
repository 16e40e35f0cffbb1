"""botocore's endpoint data for the core's :class:`~sigv4_inspector.core.endpoints.Endpoints`:
each partition's region pattern (the 7 KB ``partitions`` data; the 1.2 MB ``endpoints``
data, which older botocore releases alone have, cost 150 M instructions to load for the
same patterns) and signing names from service models, read when first asked."""

from __future__ import annotations

import os
import re
import zlib
from functools import lru_cache
from typing import Any

from sigv4_inspector.core.endpoints import FALLBACK_REGION_PATTERNS, Endpoints


def _region_patterns() -> tuple[str, ...]:
    for name in ("partitions", "endpoints"):
        try:
            data: Any = _loader().load_data(name)
            return tuple(str(p["regionRegex"]) for p in data["partitions"])
        except Exception:  # this release lacks it (or it is unreadable): the next one
            continue
    return FALLBACK_REGION_PATTERNS  # pragma: no cover


@lru_cache(maxsize=1)
def _loader() -> Any:
    import botocore.loaders

    return botocore.loaders.create_loader()


@lru_cache(maxsize=1)
def _services() -> frozenset[str]:
    return frozenset(_loader().list_available_services("service-2"))


_META_FIELD = re.compile(rb'"(endpointPrefix|signingName)"\s*:\s*"([^"]{1,100})"')
_HEAD = 8192  # the model's "metadata" object comes first, within its first few KB


def _model_head(service: str) -> bytes | None:
    """The first bytes of the service's newest model (gzip or plain JSON), or None."""
    loader = _loader()
    version = loader.determine_latest_version(service, "service-2")
    for root in loader.search_paths:
        base = os.path.join(root, service, version, "service-2.json")
        for path, gz in ((base + ".gz", True), (base, False)):
            if os.path.isfile(path):
                with open(path, "rb") as fh:
                    raw = fh.read(_HEAD)
                return zlib.decompressobj(wbits=31).decompress(raw, _HEAD) if gz else raw
    return None


def _signing_name(prefix: str) -> str | None:
    """The signing name of the service whose endpoint prefix is ``prefix``, from botocore's
    service model when one is named like it. Only the model's metadata is read (its first
    few KB): loading a whole model costs 30-50 ms; the full load is the fallback."""
    try:
        if prefix not in _services():
            return None
        head = _model_head(prefix)
        meta = {k.decode(): v.decode() for k, v in _META_FIELD.findall(head or b"")}
        if "endpointPrefix" not in meta:
            model: Any = _loader().load_service_model(prefix, "service-2")
            meta = model.get("metadata", {})
    except Exception:
        return None
    if meta.get("endpointPrefix") == prefix:
        return str(meta.get("signingName") or prefix)
    return None


@lru_cache(maxsize=1)
def botocore_endpoints() -> Endpoints:
    """The endpoint data of the installed botocore (loaded once)."""
    return Endpoints(_region_patterns(), _signing_name)
