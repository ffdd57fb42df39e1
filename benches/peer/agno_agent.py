"""The agent benchmark's peer: the same agent in Python Agno, against the same fake server.

usage: python agno_agent.py BASE_URL DB_FILE RUNS
Runs RUNS sequential runs of one Agno 3.x agent (history of 3 runs, instructions, session
state in context, SqliteDb) in one session, and prints {"total": seconds, "times": [seconds]}.
"""
import json
import os
import sys
import time

os.environ.setdefault("AGNO_TELEMETRY", "false")

from agno.agent import Agent
from agno.db.sqlite import SqliteDb
from agno.models.openai import OpenAIChat

base_url, db_file, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
agent = Agent(
    id="bench",
    model=OpenAIChat(id="fake", base_url=base_url, api_key="bench-key", max_retries=0),
    db=SqliteDb(db_file=db_file),
    description="A benchmark agent.",
    instructions=["Be concise.", "Answer in one sentence."],
    add_history_to_context=True,
    num_history_runs=3,
    session_state={"count": 0},
    add_session_state_to_context=True,
    telemetry=False,
)
times = []
start = time.perf_counter()
for i in range(runs):
    t = time.perf_counter()
    agent.run(f"question {i}", session_id="bench")
    times.append(time.perf_counter() - t)
print(json.dumps({"total": time.perf_counter() - start, "times": times}))
