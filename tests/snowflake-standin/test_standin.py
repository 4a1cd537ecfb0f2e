"""Tests of the stand-in itself, through Snowflake's official Python connector and raw HTTP.

Run: `python -m unittest test_standin` in this folder, with the virtual environment of
requirements.txt (scripts/snowflake-standin.sh creates it).
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
from decimal import Decimal

import snowflake.connector
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StandinTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.port = free_port()
        cls.dir = tempfile.TemporaryDirectory()
        cls.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = os.path.join(cls.dir.name, "loader.pub")
        with open(public, "wb") as f:
            f.write(cls.key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        cls.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "standin.py"), "--port", str(cls.port),
             "--db-path", cls.dir.name, "--user", f"loader={public}"]
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{cls.port}/__standin/health", timeout=1)
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the stand-in did not start")

    @classmethod
    def tearDownClass(cls) -> None:
        cls.proc.terminate()
        cls.proc.wait(10)
        cls.dir.cleanup()

    def connect(self):
        # No session_parameters: fakesnow alone answers such a login with HTTP 500.
        return snowflake.connector.connect(
            user="tester", password="secret", account="acme", host="127.0.0.1", port=self.port,
            protocol="http", database="TESTDB", schema="PUBLIC",
        )

    def post(self, path: str, body: dict, token: str | None = None) -> dict:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )
        if token:
            req.add_header("Authorization", f'Snowflake Token="{token}"')
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read())

    def login(self) -> str:
        answer = self.post("/session/v1/login-request?databaseName=TESTDB&schemaName=PUBLIC",
                           {"data": {"LOGIN_NAME": "tester", "PASSWORD": "secret", "ACCOUNT_NAME": "acme"}})
        self.assertTrue(answer["success"], answer)
        return answer["data"]["token"]

    def query(self, token: str, sql: str) -> dict:
        return self.post("/queries/v1/query-request?requestId=1", {"sqlText": sql, "sequenceId": 1}, token)

    def test_values_read_back_as_snowflake_encodes_them(self) -> None:
        cur = self.connect().cursor()
        cur.execute(
            "SELECT 42 AS i, 1.50::NUMBER(10,2) AS d, TRUE AS b, FALSE AS f, 'text' AS s, "
            "'2026-03-04'::DATE AS dt, '2026-03-04 05:06:07.25'::TIMESTAMP_NTZ AS ntz, "
            "'2026-03-04 05:06:07.25+00:00'::TIMESTAMP_TZ AS tz, NULL::TIMESTAMP_TZ AS nul, "
            "PARSE_JSON('{\"a\": [1, 2]}') AS v, '1969-12-31 23:59:58.5'::TIMESTAMP_NTZ AS before"
        )
        row = cur.fetchone()
        self.assertEqual(row[0], 42)
        self.assertEqual(row[1], Decimal("1.50"))
        self.assertIs(row[2], True)
        self.assertIs(row[3], False)
        self.assertEqual(row[4], "text")
        self.assertEqual(row[5], datetime.date(2026, 3, 4))
        self.assertEqual(row[6], datetime.datetime(2026, 3, 4, 5, 6, 7, 250000))
        self.assertEqual(row[7], datetime.datetime(2026, 3, 4, 5, 6, 7, 250000, tzinfo=datetime.timezone.utc))
        self.assertIsNone(row[8], "a NULL timestamp stays NULL (fakesnow alone gives 1970-01-01)")
        self.assertEqual(json.loads(row[9]), {"a": [1, 2]})
        self.assertEqual(row[10], datetime.datetime(1969, 12, 31, 23, 59, 58, 500000))

    def test_results_are_json_rowsets(self) -> None:
        token = self.login()
        answer = self.query(token, "SELECT 7 AS n, TRUE AS b, '2026-01-02'::DATE AS d")
        data = answer["data"]
        self.assertEqual(data["queryResultFormat"], "json")
        self.assertNotIn("rowsetBase64", data)
        self.assertEqual(data["rowset"], [["7", "1", str((datetime.date(2026, 1, 2) - datetime.date(1970, 1, 1)).days)]])
        ddl = self.query(token, "CREATE TABLE IF NOT EXISTS json_ddl (id VARCHAR)")["data"]
        self.assertEqual(ddl["queryResultFormat"], "json")
        self.assertEqual(len(ddl["rowset"]), 1)

    def test_errors_carry_a_query_id(self) -> None:
        token = self.login()
        answer = self.query(token, "SELECT no_such_column FROM no_such_table")
        self.assertFalse(answer["success"])
        self.assertTrue(answer["data"]["queryId"])
        self.assertTrue(answer["message"])

    def test_an_expired_session_answers_390112_until_a_new_login(self) -> None:
        token = self.login()
        self.assertTrue(self.query(token, "SELECT 1")["success"])
        self.post("/__standin/expire-sessions", {})
        answer = self.query(token, "SELECT 1")
        self.assertFalse(answer["success"])
        self.assertEqual(answer["code"], "390112")
        fresh = self.login()
        self.assertTrue(self.query(fresh, "SELECT 1")["success"])

    def key_pair_login(self, key) -> None:
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        conn = snowflake.connector.connect(
            user="loader", account="acme", host="127.0.0.1", port=self.port, protocol="http",
            authenticator="SNOWFLAKE_JWT", private_key=der, database="TESTDB", schema="PUBLIC",
        )
        conn.cursor().execute("SELECT 1")

    def test_key_pair_logins_are_checked_against_the_registered_key(self) -> None:
        self.key_pair_login(self.key)
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        with self.assertRaises(snowflake.connector.errors.DatabaseError) as refused:
            self.key_pair_login(other)
        self.assertIn("JWT token is invalid", str(refused.exception))

    def test_flatten_inserts_a_json_array_in_one_statement(self) -> None:
        cur = self.connect().cursor()
        cur.execute("CREATE TABLE IF NOT EXISTS flat (id VARCHAR, doc VARIANT)")
        rows = json.dumps([{"id": str(i), "doc": {"n": i}} for i in range(500)])
        cur.execute("INSERT INTO flat SELECT value:id::VARCHAR, value:doc FROM TABLE(FLATTEN(INPUT => PARSE_JSON(%s)))",
                    (rows,))
        self.assertEqual(cur.rowcount, 500)
        cur.execute("SELECT COUNT(*), MAX(doc:n::NUMBER) FROM flat")
        self.assertEqual(cur.fetchone(), (500, 499))


if __name__ == "__main__":
    unittest.main()
