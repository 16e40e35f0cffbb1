"""DynamoDB (AWS JSON 1.0): PutItem, GetItem, ListTables over tables kept in memory."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .auth import authenticate
from .errors import JsonErrors
from .model import ReceivedRequest, Response, Route

if TYPE_CHECKING:
    from .server import FakeAWS


def handle(state: FakeAWS, req: ReceivedRequest, route: Route, host: str) -> Response:
    """Serve one DynamoDB request (AWS JSON 1.0)."""
    err = JsonErrors(state, req)
    authenticate(state, req, route, host, err)
    target = req.header("x-amz-target") or ""
    prefix, _, op = target.partition(".")
    if req.method != "POST" or prefix != "DynamoDB_20120810":
        return err.coral(400, "UnknownOperationException", None)
    try:
        params = json.loads(req.body or b"{}")
    except ValueError:
        return err.coral(
            400, "SerializationException", "Start of structure or map found where not expected."
        )
    table = params.get("TableName", "")
    if op == "PutItem":
        item = params.get("Item") or {}
        with state.lock:
            state.tables.setdefault(table, []).append(item)
        return err.ok({})
    if op == "GetItem":
        key = params.get("Key") or {}
        with state.lock:
            items = state.tables.get(table)
            if items is None:
                return err.dynamo(400, "ResourceNotFoundException", "Requested resource not found")
            for item in reversed(items):
                if all(item.get(k) == v for k, v in key.items()):
                    return err.ok({"Item": item})
        return err.ok({})
    if op == "ListTables":
        with state.lock:
            names = sorted(state.tables)
        return err.ok({"TableNames": names})
    return err.coral(400, "UnknownOperationException", None)


# ---- STS ------------------------------------------------------------------------------
