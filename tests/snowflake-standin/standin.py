"""A Snowflake stand-in for gong-relay's tests: fakesnow's server behind an adapter.

Snowflake cannot be reached from the test machines, so the Snowflake backend is tested
against fakesnow (a third-party implementation of the drivers' protocol over DuckDB). Where
fakesnow answers differently from Snowflake in a way the Rust connector notices, this
adapter answers as Snowflake documents it:

1. Login: fakesnow fails (HTTP 500) when the client sends no SESSION_PARAMETERS; Snowflake
   does not require them. Key-pair logins are checked here (fakesnow accepts anything).
2. Results: fakesnow returns SELECT and DDL results as Arrow (`rowsetBase64`); Snowflake's
   JSON result format is a `rowset` of strings in Snowflake's encodings (FIXED as a decimal
   string, BOOLEAN "1"/"0", DATE as days since the epoch, TIME and TIMESTAMP_NTZ/LTZ as
   "seconds.fraction", TIMESTAMP_TZ as "seconds.fraction offset" with offset = minutes + 1440,
   VARIANT/OBJECT/ARRAY as JSON text, BINARY as hex).
3. Errors: Snowflake's error answers carry `data.queryId` (and `type`), fakesnow's do not.
4. NULL timestamps: fakesnow's Arrow timestamps lose their null flag (they read as
   1970-01-01); patched below. One fakesnow session is not safe for concurrent statements:
   statements of one session are serialised here (Snowflake runs them one after another too).
5. Test controls under `/__standin/`: expire every session (the next statement answers
   390112, as Snowflake does for an expired session token), and a health check.

What the adapter cannot hide (fakesnow enforces primary keys; TIMESTAMP_TZ keeps no offset)
is left to the backend, which follows Snowflake: it declares no primary keys and stores UTC.

Run: `python standin.py --port 8765 [--db-path DIR] [--user NAME=PUBLIC_KEY_PEM_FILE]`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import gzip
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from decimal import Decimal
from typing import Any

import warnings

# fakesnow's own note about an Arrow copy, printed once per result: noise in test logs.
warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")

import fakesnow.arrow
import fakesnow.server
import jwt
import pyarrow as pa
import uvicorn
from cryptography.hazmat.primitives import serialization
from fakesnow.instance import FakeSnow

EXPIRED_CODE = "390112"
_EPOCH_DATE = datetime.date(1970, 1, 1)


def _timestamps_keeping_nulls(ts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """fakesnow's timestamp struct, with the null flags of the original column kept."""
    if isinstance(ts, pa.ChunkedArray):
        ts = ts.combine_chunks()
    struct = _original_timestamp_struct(ts)
    if ts.null_count == 0:
        return struct
    return pa.StructArray.from_arrays(struct.flatten(), fields=list(struct.type), mask=ts.is_null())


_original_timestamp_struct = fakesnow.arrow.timestamp_to_sf_struct
fakesnow.arrow.timestamp_to_sf_struct = _timestamps_keeping_nulls


def _seconds_fraction(total: int, scale: int) -> str:
    """`total` units of 10^-scale seconds as Snowflake writes them: "-1.500000000"."""
    sign = "-" if total < 0 else ""
    whole, frac = divmod(abs(total), 10**scale)
    return f"{sign}{whole}.{frac:0{scale}d}" if scale else f"{sign}{whole}"


def _cell(value: Any, column: dict[str, Any]) -> str | None:
    """One value of a fakesnow Arrow result, in Snowflake's JSON rowset encoding."""
    if value is None:
        return None
    kind = column["type"]
    scale = column.get("scale") or 0
    if kind == "boolean":
        return "1" if value else "0"
    if kind in ("timestamp_ntz", "timestamp_ltz", "timestamp_tz"):
        scale = column.get("scale") if column.get("scale") is not None else 9
        ns = value["epoch"] * 1_000_000_000 + value["fraction"]
        text = _seconds_fraction(ns // 10 ** (9 - scale), scale)
        if kind == "timestamp_tz":
            text += f" {value.get('timezone', 1440)}"
        return text
    if kind == "time":
        # nanoseconds since midnight
        return _seconds_fraction(value // 10 ** (9 - min(scale, 9)), min(scale, 9))
    if kind == "date":
        return str((value - _EPOCH_DATE).days)
    if kind == "binary":
        return bytes(value).hex().upper()
    if kind in ("variant", "object", "array"):
        return value if isinstance(value, str) else json.dumps(value)
    if kind == "fixed":
        if isinstance(value, Decimal):
            return f"{value:.{scale}f}"
        return _seconds_fraction(int(value), 0) if scale == 0 else f"{Decimal(value).scaleb(-scale):.{scale}f}"
    if kind == "real":
        return repr(float(value))
    return str(value)


def arrow_to_rowset(b64: str, rowtype: list[dict[str, Any]]) -> list[list[str | None]]:
    """Decodes fakesnow's `rowsetBase64` into Snowflake's JSON `rowset`."""
    if not b64:
        return []
    table = pa.ipc.open_stream(base64.b64decode(b64)).read_all()
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return [[_cell(col[r], rowtype[i]) for i, col in enumerate(columns)] for r in range(table.num_rows)]


class Standin:
    """The adapter as an ASGI app around fakesnow's."""

    def __init__(self, users: dict[str, Any]):
        self.inner = fakesnow.server.app
        self.users = users  # user name -> public key, for key-pair logins
        self.expired: set[str] = set()
        self.locks: dict[str, asyncio.Lock] = {}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.inner(scope, receive, send)
        path = scope["path"]
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k.lower() != b"content-encoding"]}

        if path == "/__standin/expire-sessions":
            self.expired.update(fakesnow.server.sessions)
            return await _json(send, 200, {"expired": len(self.expired)})
        if path == "/__standin/health":
            return await _json(send, 200, {"status": "ok"})

        if path == "/session/v1/login-request":
            payload = json.loads(body or b"{}")
            data = payload.setdefault("data", {})
            refusal = self._check_login(data)
            if refusal:
                return await _json(send, 200, refusal)
            data.setdefault("SESSION_PARAMETERS", {})
            body = json.dumps(payload).encode()

        token = _token(headers.get("authorization", ""))
        if token in self.expired:
            if path == "/session" and "delete=true" in scope.get("query_string", b"").decode():
                self.expired.discard(token)
                fakesnow.server.sessions.pop(token, None)
                return await _json(send, 200, {"data": None, "code": None, "message": None, "success": True})
            return await _json(
                send,
                200,
                {
                    "data": {"nextAction": "RETRY_LOGIN", "authnMethod": "TOKEN", "queryId": str(uuid.uuid4())},
                    "code": EXPIRED_CODE,
                    "message": "Your session has expired. Please login again.",
                    "success": False,
                },
            )

        lock = self.locks.setdefault(token, asyncio.Lock()) if token else asyncio.Lock()
        async with lock:
            status, out_headers, out = await _call(self.inner, scope, body)
        if path == "/queries/v1/query-request" and status == 200:
            out = json.dumps(_snowflake_answer(json.loads(out))).encode()
            out_headers = [(k, v) for k, v in out_headers if k.lower() != b"content-length"]
            out_headers.append((b"content-length", str(len(out)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": out_headers})
        await send({"type": "http.response.body", "body": out})

    def _check_login(self, data: dict[str, Any]) -> dict[str, Any] | None:
        """Checks a key-pair login's JWT against the registered public key, as Snowflake does."""
        if data.get("AUTHENTICATOR", "").upper() != "SNOWFLAKE_JWT":
            return None
        user = str(data.get("LOGIN_NAME", "")).upper()
        account = str(data.get("ACCOUNT_NAME", "")).upper()
        key = self.users.get(user)
        refusal = {"data": None, "code": "390144", "message": "JWT token is invalid.", "success": False}
        if key is None:
            return refusal
        der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()
        try:
            claims = jwt.decode(data.get("TOKEN", ""), key, algorithms=["RS256"])
        except jwt.PyJWTError:
            return refusal
        if claims.get("iss", "").upper() != f"{account}.{user}.{fingerprint}".upper():
            return refusal
        if claims.get("sub", "").upper() != f"{account}.{user}":
            return refusal
        return None


def _snowflake_answer(answer: dict[str, Any]) -> dict[str, Any]:
    """fakesnow's query answer, as Snowflake would have written it."""
    data = answer.get("data") or {}
    if not answer.get("success"):
        data.setdefault("queryId", str(uuid.uuid4()))
        data.setdefault("internalError", False)
        data.setdefault("type", "COMPILATION")
        answer["data"] = data
        return answer
    if data.get("queryResultFormat") == "arrow":
        rowset = arrow_to_rowset(data.pop("rowsetBase64", ""), data.get("rowtype") or [])
        data["rowset"] = rowset
        data["queryResultFormat"] = "json"
        data["total"] = len(rowset)
        data["returned"] = len(rowset)
    return answer


def _token(authorization: str) -> str | None:
    prefix = 'Snowflake Token="'
    if authorization.startswith(prefix) and authorization.endswith('"'):
        return authorization[len(prefix) : -1]
    return None


async def _call(app, scope, body: bytes) -> tuple[int, list, bytes]:
    """Runs the inner ASGI app on a buffered request and buffers its answer."""
    sent = False
    status, headers, chunks = 500, [], []

    async def receive():
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
             + [(b"content-length", str(len(body)).encode())]}
    await app(scope, receive, send)
    return status, headers, b"".join(chunks)


async def _json(send, status: int, value: Any) -> None:
    body = json.dumps(value).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _exit_with_parent() -> None:
    """A test binary cannot always stop its children (a static is never dropped): watch it."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db-path", help="directory for DuckDB files (kept across restarts); default in memory")
    parser.add_argument("--user", action="append", default=[], metavar="NAME=PUBLIC_KEY_PEM_FILE",
                        help="a user allowed to log in with a key pair")
    parser.add_argument("--verbose", action="store_true", help="log every statement fakesnow runs")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="exit when the process that started this one ends (test harnesses)")
    args = parser.parse_args()
    if not args.verbose:
        logging.getLogger("fakesnow.server").setLevel(logging.WARNING)
    if args.exit_with_parent:
        _exit_with_parent()
    if args.db_path:
        fakesnow.server.shared_fs = FakeSnow(db_path=args.db_path)
    users = {}
    for entry in args.user:
        name, _, path = entry.partition("=")
        with open(path, "rb") as f:
            users[name.upper()] = serialization.load_pem_public_key(f.read())
    uvicorn.run(Standin(users), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
