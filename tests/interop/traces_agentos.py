"""Python AgentOS (agno 3.1.10) reads the traces agno-run wrote: GET /traces, GET /traces/{id}
GET /trace_session_stats and GET /metrics from AgentOS's own routes, in-process (FastAPI's TestClient).

Usage: traces_agentos.py DB_FILE  →  prints one JSON object: {"list": ..., "details": [...], "stats": ...}
"""
import json
import os
import sys

os.environ.setdefault("AGNO_TELEMETRY", "false")

from fastapi.testclient import TestClient  # noqa: E402

from agno.agent import Agent  # noqa: E402
from agno.db.sqlite import SqliteDb  # noqa: E402
from agno.os import AgentOS  # noqa: E402

db = SqliteDb(db_file=sys.argv[1], id="local")
agent = Agent(id="reader", name="Reader", db=db, telemetry=False)
app = AgentOS(id="interop", agents=[agent], telemetry=False).get_app()
client = TestClient(app)

listed = client.get("/traces", params={"limit": 50})
assert listed.status_code == 200, listed.text
details = []
for t in listed.json()["data"]:
    d = client.get(f"/traces/{t['trace_id']}")
    assert d.status_code == 200, d.text
    details.append(d.json())
stats = client.get("/trace_session_stats")
assert stats.status_code == 200, stats.text
# Agno's own daily usage over the same sessions (it recalculates on this first read).
metrics = client.get("/metrics")
assert metrics.status_code == 200, metrics.text
print("AGNO_INTEROP_JSON " + json.dumps({"list": listed.json(), "details": details, "stats": stats.json(), "metrics": metrics.json()}))
