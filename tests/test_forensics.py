"""The variant search names the mistake that reproduces a signature (issue: diagnosis by
search), for requests signed by real boto3 clients and then altered the way real hops and
libraries alter them."""

from __future__ import annotations

from datetime import UTC, datetime

from signing import AKID, SECRET, capture
from sigv4core.model import Credential, DictKeyring, WireRequest
from sigv4core.pipeline import inspect_request
from sigv4core.rules import parse_amz_date

KEYRING = DictKeyring([Credential(AKID, SECRET, source="profile:test")])


def inspect(req: WireRequest, keyring: DictKeyring = KEYRING):  # type: ignore[no-untyped-def]
    now = parse_amz_date(req.header("x-amz-date")) or datetime.now(UTC)
    return inspect_request(
        req, keyring, flow_id="f", url="https://" + req.host + req.target, seen_at=now, now=now
    )


def _alter(
    req: WireRequest, *, target: str | None = None, header: tuple[str, str] | None = None
) -> WireRequest:
    headers = list(req.headers)
    if header:
        headers = [(k, header[1] if k.lower() == header[0] else v) for k, v in headers]
    return WireRequest.build(
        req.method, target or req.target, headers, req.body, authority=req.authority
    )


def finding(insp, code: str):  # type: ignore[no-untyped-def]
    return next(f for f in insp.findings if f.code == code)


def test_host_port_added_by_a_hop() -> None:
    req = capture("dynamodb", lambda c: c.list_tables())
    insp = inspect(_alter(req, header=("host", req.host + ":443")))
    f = finding(insp, "HOST_MISMATCH")
    assert f.evidence["where"] == "inferred" and f.evidence["signed_host"] == req.host
    assert "SIGNATURE_MISMATCH" not in {x.code for x in insp.findings}


def test_plus_for_space_in_the_path() -> None:
    req = capture("s3", lambda c: c.get_object(Bucket="bucket", Key="a b"))
    assert "%20" in req.target
    insp = inspect(_alter(req, target=req.target.replace("%20", "+")))
    f = finding(insp, "URI_ENCODING")
    assert "'%20' where the request has '+'" in f.message


def _charset_altered() -> tuple[WireRequest, str]:
    """A signed DynamoDB request whose Content-Type a hop extended with a charset, and
    the value signed."""
    req = capture("dynamodb", lambda c: c.list_tables())
    ct = req.header("content-type")
    assert ct is not None
    return _alter(req, header=("content-type", ct + "; charset=UTF-8")), ct


def test_charset_added_to_content_type() -> None:
    req, ct = _charset_altered()
    insp = inspect(req)
    f = finding(insp, "HEADER_MODIFIED")
    assert f.evidence["header"] == "content-type" and f.evidence["signed_value"] == ct


def test_secret_with_trailing_newline() -> None:
    req = capture("sts", lambda c: c.get_caller_identity(), secret=SECRET + "\n")
    insp = inspect(req)
    f = finding(insp, "SECRET_MISMATCH")
    assert "trailing newline" in f.message
    assert SECRET not in str(insp.record)


def test_body_changed_after_signing() -> None:
    req = capture("dynamodb", lambda c: c.list_tables())
    changed = WireRequest.build(
        req.method, req.target, req.headers, b'{"Limit": 1}', authority=req.authority
    )
    insp = inspect(changed)
    assert insp.verification.verdict == "invalid"
    assert "PAYLOAD_HASH_MISMATCH" in {f.code for f in insp.findings}


def test_unexplained_mismatch_stays_generic() -> None:
    req = capture("sts", lambda c: c.get_caller_identity(), secret="another-secret-entirely")
    insp = inspect(req)
    assert "SIGNATURE_MISMATCH" in {f.code for f in insp.findings}
    assert insp.extra["forensic"]["explained"] is False and insp.extra["forensic"]["tried"] > 10


class _Clock:
    """Stands in for the ``time`` module in ``forensics``: the wall clock jumps a second
    at every reading (a thread descheduled on a busy machine); the CPU clock jumps too
    only when ``busy``."""

    def __init__(self, *, busy: bool) -> None:
        self.busy = busy
        self.wall = self.cpu = 0.0

    def perf_counter(self) -> float:
        self.wall += 1.0
        return self.wall

    def thread_time(self) -> float:
        self.cpu += 1.0 if self.busy else 1e-6
        return self.cpu


def test_a_busy_machine_does_not_cut_the_search_short(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The same diagnosis however long the wall clock says the search took: its budget is
    the thread's CPU time (a wall-clock budget gave vaguer findings under load)."""
    import sigv4core.forensics as fz

    req, ct = _charset_altered()
    monkeypatch.setattr(fz, "time", _Clock(busy=False))
    insp = inspect(req)
    assert "truncated" not in insp.extra["forensic"]
    f = finding(insp, "HEADER_MODIFIED")
    assert f.evidence["header"] == "content-type" and f.evidence["signed_value"] == ct


def test_the_search_stops_when_its_cpu_budget_is_spent(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import sigv4core.forensics as fz

    req, _ = _charset_altered()
    monkeypatch.setattr(fz, "time", _Clock(busy=True))
    insp = inspect(req)
    fzr = insp.extra["forensic"]
    assert fzr["truncated"] is True and fzr["tried"] == 0 and fzr["explained"] is False
    assert "HEADER_MODIFIED" not in {x.code for x in insp.findings}
    assert insp.verification.verdict == "invalid"
