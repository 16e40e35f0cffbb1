"""``sigv4.prove``: replay a flow with only the change its diagnosis names, and say
whether that fixed it.

    :sigv4.prove @focus          (GET and HEAD)
    :sigv4.prove @focus yes      (any other method: the replay changes state on the server)

The change is decided by :func:`sigv4_inspector.core.prove.plan_proof`; here a copy of
the flow gets the changed request and goes through mitmproxy's own client replay
(``replay.client``). When its answer arrives, the log shows the original and the changed
request side by side, and the copy is marked as a replay of the proof (comment, marker,
``metadata["sigv4_prove"]``); the original gets ``metadata["sigv4_proof"]``. The copy's
signature, computed here, is replaced by its fingerprint as soon as the answer is in (or
the replay fails), so a saved flow file never holds it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from mitmproxy import command, ctx, exceptions, flow, http
from mitmproxy.hooks import UpdateHook

from sigv4_inspector.addon.capture import wire_request
from sigv4_inspector.addon.state import META_KEY, State
from sigv4_inspector.core.model import fingerprint
from sigv4_inspector.core.prove import SAFE_METHODS, ProofPlan, plan_proof

log = logging.getLogger("sigv4")

PROVE_KEY = "sigv4_prove"  # on the replayed copy
PROOF_KEY = "sigv4_proof"  # on the original: the outcome
MAX_FLOWS = 20  # flows one command proves
_SIG_AUTH = re.compile(r"(Signature=)([0-9a-fA-F]{16,})")
_SIG_QUERY = re.compile(r"([?&]X-Amz-Signature=)([^&]+)")


def _status(f: http.HTTPFlow) -> str:
    if f.response is not None:
        rec = f.metadata.get(META_KEY) or {}
        code = ((rec.get("response") or {}).get("aws_error_code")) or ""
        return f"{f.response.status_code} {code or f.response.reason}".strip()
    if f.error is not None:
        return f"error: {f.error.msg}"
    return "no answer"


def passed(f: http.HTTPFlow) -> bool:
    return f.response is not None and 200 <= f.response.status_code < 300


def _hide_signature(f: http.HTTPFlow) -> None:
    """Replace the signature computed here by its fingerprint, in the header and query."""
    auth = f.request.headers.get("authorization")
    if auth:
        f.request.headers["authorization"] = _SIG_AUTH.sub(
            lambda m: m.group(1) + fingerprint(m.group(2)), auth
        )
    if "X-Amz-Signature=" in f.request.path:
        f.request.path = _SIG_QUERY.sub(
            lambda m: m.group(1) + fingerprint(m.group(2)), f.request.path
        )


class Prove:
    """The ``sigv4.prove`` command and the hooks that finish a proof when its replay ends.
    Every line, comment and outcome it writes passes the addon's scrubber (redaction at the
    sink)."""

    name = "sigv4_prove"

    def __init__(self, state: State) -> None:
        self.state = state
        self.pending: dict[str, http.HTTPFlow] = {}  # copy id -> original

    @command.command("sigv4.prove")
    def prove(self, flows: Sequence[flow.Flow], confirm: str = "") -> None:
        "Replay flows with only the change their diagnosis names; methods other than GET/HEAD need 'yes'."
        todo = [f for f in flows if isinstance(f, http.HTTPFlow)][:MAX_FLOWS]
        if not todo:
            raise exceptions.CommandError("sigv4.prove: no HTTP flow given (e.g. @focus)")
        for f in todo:
            self.start(f, confirm)

    def start(self, f: http.HTTPFlow, confirm: str = "") -> ProofPlan | None:
        """Plan and replay one flow's proof; None when nothing was replayed."""
        rec = f.metadata.get(META_KEY)
        where = f"{f.request.method} {(rec or {}).get('url') or f.request.pretty_url}"
        if not rec:
            self._outcome(f, {"result": "no record", "reason": "not an AWS-signed flow"})
            self._log(logging.WARNING, "sigv4.prove: %s has no AWS signature record", where)
            return None
        plan = plan_proof(
            rec,
            wire_request(f.request),
            now=datetime.now(UTC),
            lookup=self.state.store.lookup,
            endpoints=self.state.endpoints,
        )
        if not plan.provable or plan.request is None:
            self._outcome(f, {"result": "not provable", **plan.as_dict()})
            self._log(
                logging.WARNING,
                "sigv4.prove: %s: %s cannot be proven by a change: %s",
                where,
                plan.code or "nothing",
                plan.reason,
            )
            return None
        if f.request.method.upper() not in SAFE_METHODS and confirm.strip().lower() != "yes":
            self._outcome(f, {"result": "needs confirmation", **plan.as_dict()})
            self._log(
                logging.WARNING,
                "sigv4.prove: %s is a %s: replaying it may change data on the server; "
                "confirm with  sigv4.prove @focus yes",
                where,
                f.request.method,
            )
            return None
        copy = f.copy()
        req = plan.request
        copy.request.method = req.method
        copy.request.path = req.target
        copy.request.headers.clear()
        for k, v in req.headers:
            copy.request.headers.add(k, v)
        copy.request.raw_content = req.body if req.body is not None else b""
        copy.response = None
        copy.error = None
        copy.comment = f"sigv4.prove replay of {f.id}: {plan.code}"
        copy.marked = ":repeat:"
        copy.metadata.pop(META_KEY, None)
        copy.metadata.pop(PROOF_KEY, None)
        copy.metadata[PROVE_KEY] = {
            "of": f.id,
            "pins": [list(p) for p in plan.pins],
            **plan.as_dict(),
            "original_status": _status(f),
            "result": "replaying",
        }
        self.pending[copy.id] = f
        self._outcome(f, {"result": "replaying", "replay": copy.id, **plan.as_dict()})
        view = ctx.master.addons.get("view")
        if view is not None:
            view.add([copy])
        self._log(
            logging.INFO,
            "sigv4.prove: %s: replaying with only the change %s names: %s",
            where,
            plan.code,
            "; ".join(plan.changes),
        )
        ctx.master.commands.call("replay.client", [copy])
        return plan

    # -- the replayed copy -------------------------------------------------------------
    def request(self, f: http.HTTPFlow) -> None:
        """Put the pinned header values back after the proxy's own options (anticomp,
        modify_headers) ran, so the replay carries only the planned change."""
        meta = f.metadata.get(PROVE_KEY)
        if not meta or not f.is_replay:
            return
        for name, value in meta.get("pins") or []:
            f.request.headers[name] = value

    def response(self, f: http.HTTPFlow) -> None:
        self._finish(f)

    def error(self, f: http.HTTPFlow) -> None:
        self._finish(f)

    def _finish(self, f: http.HTTPFlow) -> None:
        original = self.pending.pop(f.id, None)
        meta: dict[str, Any] | None = f.metadata.get(PROVE_KEY)
        if original is None or meta is None:
            return
        _hide_signature(f)
        ok = passed(f)
        result = "passed" if ok else "still fails"
        status = _status(f)
        meta.update(result=result, status=status)
        outcome: dict[str, Any] = {
            "result": result,
            "replay": f.id,
            "original_status": meta.get("original_status"),
            "status": status,
            **{k: meta[k] for k in ("code", "changes", "resigned", "signature") if k in meta},
        }
        self._outcome(original, outcome)
        verdict = (
            f"the changed request passed: {meta.get('code')} was the cause"
            if ok
            else f"the changed request still fails: {meta.get('code')} was not the whole story"
        )
        f.comment = self.state.scrubber.text(
            f"sigv4.prove {result.upper()} ({meta.get('code')}): {status}, original "
            f"{meta.get('original_status')} | {'; '.join(meta.get('changes') or [])}"
        )[:400]
        f.marked = ":white_check_mark:" if ok else ":x:"
        width = max(len(str(meta.get("original_status"))), 8)
        self._log(
            logging.INFO if ok else logging.WARNING,
            "sigv4.prove %s\n  %-*s | %s\n  %-*s | %s\n  change: %s%s",
            f"{original.request.method} {(original.metadata.get(META_KEY) or {}).get('url', '')}",
            width,
            "original",
            "changed",
            width,
            meta.get("original_status"),
            status,
            "; ".join(meta.get("changes") or []),
            f"\n  => {verdict}",
        )
        self._update([f, original])

    def _log(self, level: int, fmt: str, *args: Any) -> None:
        log.log(level, "%s", self.state.scrubber.text(fmt % args))

    def _outcome(self, f: http.HTTPFlow, outcome: dict[str, Any]) -> None:
        f.metadata[PROOF_KEY] = self.state.scrubber.value(outcome)
        self._update([f])

    @staticmethod
    def _update(flows: list[http.HTTPFlow]) -> None:
        try:
            ctx.master.addons.trigger(UpdateHook(flows))
        except Exception:  # no master (scripts, tests)
            return
