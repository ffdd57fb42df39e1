"""The workflow benchmark's peer: the same workflows in Python Agno, against the same fake server.

usage: python agno_workflow.py BASE_URL DB_FILE RUNS
Times (1) a Parallel group of 4 agent steps whose model ("slow-*") answers after 200 ms, and
(2) RUNS runs of a 10-step sequential workflow whose model answers at once, both with SqliteDb,
and prints {"parallel": seconds, "sequential_total": seconds, "sequential_runs": RUNS}.
"""
import json
import os
import sys
import time

os.environ.setdefault("AGNO_TELEMETRY", "false")

from agno.agent import Agent
from agno.db.sqlite import SqliteDb
from agno.models.openai import OpenAIChat
from agno.workflow import Parallel, Step, Workflow

base_url, db_file, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
db = SqliteDb(db_file=db_file)


def agent(i, model):
    return Agent(
        id=f"a{i}",
        name=f"A{i}",
        model=OpenAIChat(id=model, base_url=base_url, api_key="bench-key", max_retries=0),
        telemetry=False,
    )


parallel = Workflow(
    id="parallel",
    db=db,
    steps=[Parallel(*[Step(name=f"p{i}", agent=agent(i, f"slow-{i}")) for i in range(4)], name="group")],
    telemetry=False,
)
t = time.perf_counter()
parallel.run(input="go", session_id="parallel")
parallel_time = time.perf_counter() - t

sequential = Workflow(
    id="sequential",
    db=db,
    steps=[Step(name=f"s{i}", agent=agent(i, "fast")) for i in range(10)],
    telemetry=False,
)
t = time.perf_counter()
for i in range(runs):
    sequential.run(input=f"go {i}", session_id="sequential")
sequential_total = time.perf_counter() - t
print(json.dumps({"parallel": parallel_time, "sequential_total": sequential_total, "sequential_runs": runs}))
