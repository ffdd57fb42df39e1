"""The server benchmark's peer: Python AgentOS serving the same app as agno-run does.

usage: python agentos_server.py BASE_URL DB [SCHEMA]
DB is an SQLite file, or a postgresql:// URL (then SCHEMA is the schema of the tables, created
if missing). One agent, `bench`, as in benches/server.rs's config: an OpenAIChat model at
BASE_URL (no retries), description and instructions, history of the last 3 runs.

Binds 127.0.0.1 on a free port, one uvicorn worker with uvicorn's default logging (info, one
access line per request, as agno-run serve logs one line per request by default). Prints
"serving the AgentOS API on http://127.0.0.1:PORT" on stderr once uvicorn accepts connections,
then serves until SIGTERM.
"""
import os
import socket
import sys

os.environ.setdefault("AGNO_TELEMETRY", "false")

import uvicorn
from agno.agent import Agent
from agno.models.openai import OpenAIChat
from agno.os import AgentOS

base_url, db_arg = sys.argv[1], sys.argv[2]
if db_arg.startswith("postgresql://"):
    from agno.db.postgres import PostgresDb

    url = "postgresql+psycopg://" + db_arg[len("postgresql://"):]
    db = PostgresDb(db_url=url, db_schema=sys.argv[3])
else:
    from agno.db.sqlite import SqliteDb

    db = SqliteDb(db_file=db_arg)

agent = Agent(
    id="bench",
    name="Bench",
    model=OpenAIChat(id="fake", base_url=base_url, api_key="bench-key", max_retries=0),
    db=db,
    description="A benchmark agent.",
    instructions=["Be concise.", "Answer in one sentence."],
    add_history_to_context=True,
    num_history_runs=3,
    telemetry=False,
)
app = AgentOS(id="bench-os", name="Bench OS", agents=[agent], telemetry=False).get_app()

sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", 0))
port = sock.getsockname()[1]


class Server(uvicorn.Server):
    async def startup(self, sockets=None):
        await super().startup(sockets=sockets)
        print(f"serving the AgentOS API on http://127.0.0.1:{port}", file=sys.stderr, flush=True)


config = uvicorn.Config(app, backlog=8192, timeout_keep_alive=30)
Server(config).run(sockets=[sock])
