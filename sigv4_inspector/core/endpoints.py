"""What an AWS host name says about the region and signing service a request must use.

Built on botocore's endpoint and service data, which the runtime reads and hands in
(:class:`Endpoints`). Where no rule applies (custom domains,
S3-compatible servers, global virtual-host S3 names) it answers None: say nothing rather
than guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

AWS_SUFFIXES = (
    ".amazonaws.com",
    ".amazonaws.com.cn",
    ".api.aws",
    ".on.aws",
    ".c2s.ic.gov",
    ".sc2s.sgov.gov",
)

# hosts whose region is fixed although the name carries none
GLOBAL_ENDPOINTS = {
    "sts.amazonaws.com": ("sts", "us-east-1"),
    "iam.amazonaws.com": ("iam", "us-east-1"),
    "route53.amazonaws.com": ("route53", "us-east-1"),
    "cloudfront.amazonaws.com": ("cloudfront", "us-east-1"),
    "organizations.us-east-1.amazonaws.com": ("organizations", "us-east-1"),
    "s3.amazonaws.com": ("s3", "us-east-1"),
    "s3-external-1.amazonaws.com": ("s3", "us-east-1"),
}

# endpoint prefixes whose signing name differs (botocore data covers most; these are the
# frequent ones, checked without loading a model)
SIGNING_NAME = {
    "email": "ses",
    "runtime.sagemaker": "sagemaker",
    "streams.dynamodb": "dynamodb",
    "data.iot": "iotdata",
    "data-ats.iot": "iotdata",
    "monitoring": "monitoring",
    "execute-api": "execute-api",
    "es": "es",
    "aoss": "aoss",
    "s3-accesspoint": "s3",
    "s3-control": "s3",
    "s3-accelerate": "s3",
    "s3-object-lambda": "s3-object-lambda",
    "lambda-url": "lambda",
}


@dataclass(frozen=True)
class HostInfo:
    service: str | None  # signing name, when known
    region: str | None  # the region the scope must carry, when known
    is_aws: bool
    s3_compatible_guess: bool = False
    mrap: bool = False
    note: str = ""


def is_aws_host(host: str) -> bool:
    h = host.split(":", 1)[0].lower().rstrip(".")
    return h.endswith(AWS_SUFFIXES)


#: Used when no endpoint data is given (tests, or botocore's data unreadable).
FALLBACK_REGION_PATTERNS = (r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d+$",)
_MAX_CACHED = 4096


class Endpoints:
    """What host names say, given endpoint data: each partition's region pattern and a
    lookup of signing names by endpoint prefix. Pure: the runtime reads botocore's data
    (:mod:`sigv4_inspector.runtime.endpoints`) and hands it in."""

    def __init__(
        self,
        region_patterns: Sequence[str] = FALLBACK_REGION_PATTERNS,
        signing_name: Callable[[str], str | None] | None = None,
    ) -> None:
        self._regions = [re.compile(p) for p in region_patterns]
        self._signing_name = signing_name
        self._names: dict[str, str | None] = {}
        self._hosts: dict[str, HostInfo] = {}

    def looks_like_region(self, label: str) -> bool:
        return any(r.match(label) for r in self._regions)

    def signing_name_for_prefix(self, prefix: str) -> str | None:
        """The signing name of the service whose endpoint prefix is ``prefix``; None when
        unknown."""
        if prefix in SIGNING_NAME:
            return SIGNING_NAME[prefix]
        if prefix in self._names:
            return self._names.get(prefix)  # (cleared meanwhile by another thread: None)
        if len(self._names) >= _MAX_CACHED:
            self._names.clear()
        try:
            found = self._signing_name(prefix) if self._signing_name else None
        except Exception:
            found = None
        self._names[prefix] = found
        return found

    def host_info(self, host: str) -> HostInfo:
        """Infer the signing service and region a request to ``host`` must be signed for."""
        info = self._hosts.get(host)
        if info is None:
            if len(self._hosts) >= _MAX_CACHED:
                self._hosts.clear()
            info = self._hosts[host] = _host_info(host, self)
        return info


DEFAULT = Endpoints()


def host_info(host: str) -> HostInfo:
    """:meth:`Endpoints.host_info` with the fallback data (no botocore)."""
    return DEFAULT.host_info(host)


def _host_info(host: str, data: Endpoints) -> HostInfo:
    looks_like_region = data.looks_like_region
    h = host.split(":", 1)[0].lower().rstrip(".")
    if not h.endswith(AWS_SUFFIXES):
        return HostInfo(None, None, False)
    if h in GLOBAL_ENDPOINTS:
        svc, fixed_region = GLOBAL_ENDPOINTS[h]
        return HostInfo(svc, fixed_region, True)
    if h.endswith(".mrap.accesspoint.s3-global.amazonaws.com") or ".accesspoint.s3-global." in h:
        return HostInfo("s3", None, True, mrap=True, note="Multi-Region Access Point")
    labels = h.split(".")
    suffix_len = 3 if h.endswith(".amazonaws.com.cn") else 2
    core = labels[: len(labels) - suffix_len]
    # S3: any label that is s3, s3-<region>, s3-accesspoint, s3-accelerate ...
    for i, lab in enumerate(core):
        if lab == "s3" or lab.startswith("s3-") or lab in ("s3-accesspoint", "s3-object-lambda"):
            rest = [x for x in core[i + 1 :] if x not in ("dualstack", "fips")]
            region = None
            if lab.startswith("s3-") and looks_like_region(lab[3:]):
                region = lab[3:]
            elif rest and looks_like_region(rest[0]):
                region = rest[0]
            elif lab == "s3" and not rest and i == len(core) - 1 and i == 0:
                region = "us-east-1"
            if lab in ("s3-accelerate",) or "s3-accelerate" in core:
                region = None
            service = "s3-object-lambda" if lab == "s3-object-lambda" else "s3"
            return HostInfo(service, region, True)
    # <id>.execute-api.<region>.amazonaws.com, search-x.<region>.es.amazonaws.com,
    # <id>.<region>.aoss.amazonaws.com
    if "execute-api" in core:
        i = core.index("execute-api")
        api_region = core[i + 1] if i + 1 < len(core) and looks_like_region(core[i + 1]) else None
        return HostInfo("execute-api", api_region, True)
    if core and core[-1] in ("es", "aoss") and len(core) >= 2 and looks_like_region(core[-2]):
        return HostInfo(core[-1], core[-2], True)
    # <prefix>[-fips].<region>.amazonaws.com, <prefix>.dualstack.<region>...
    region_idx = next((i for i, lab in enumerate(core) if looks_like_region(lab)), None)
    if region_idx is None or region_idx == 0:
        return HostInfo(None, None, True)
    prefix = ".".join(x for x in core[:region_idx] if x != "dualstack")
    prefix = prefix.removesuffix("-fips")
    return HostInfo(data.signing_name_for_prefix(prefix), core[region_idx], True)
