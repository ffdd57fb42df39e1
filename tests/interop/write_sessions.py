"""Write sessions and memories with Python Agno (like generate.py, to any database), then print
what Agno's own fresh reader returns, in generate.py's expected.json layout.

usage: python write_sessions.py (--sqlite FILE | --pg URL --schema S) --base-url URL
"""
from _common import emit, open_db, parser, session_summary, model

p = parser(__doc__)
p.add_argument("--base-url", required=True)
args = p.parse_args()

from agno.agent import Agent
from agno.db.schemas.memory import UserMemory
from agno.team import Team
from agno.workflow import Workflow
from agno.workflow.step import Step

db = open_db(args)
m = lambda: model(args.base_url)  # noqa: E731

assistant = Agent(
    id="assistant",
    name="Assistant",
    model=m(),
    db=db,
    session_state={"counter": 0},
    add_history_to_context=True,
    num_history_runs=2,
    telemetry=False,
)
assistant.run("Hello, who are you?", session_id="agent-s1", user_id="u1")
assistant.run("What can you do?", session_id="agent-s1", user_id="u1")
assistant.run(
    "Remember that the counter is now 3.",
    session_id="agent-s1",
    user_id="u1",
    session_state={"counter": 3, "note": "set on run 3"},
)
assistant.set_session_name(session_id="agent-s1", session_name="Fixture chat")
assistant.run("A single question from another user.", session_id="agent-s2", user_id="u2")

team = Team(
    id="crew",
    name="Crew",
    members=[
        Agent(id="researcher", name="Researcher", role="Finds facts", model=m(), telemetry=False),
        Agent(id="writer", name="Writer", role="Writes prose", model=m(), telemetry=False),
    ],
    model=m(),
    db=db,
    telemetry=False,
)
team.run("Write one sentence about PostgreSQL.", session_id="team-s1", user_id="u1")

wf = Workflow(
    id="pipe",
    name="Pipe",
    db=db,
    steps=[
        Step(name="research", agent=Agent(id="researcher", name="Researcher", model=m(), telemetry=False)),
        Step(name="write", agent=Agent(id="writer", name="Writer", model=m(), telemetry=False)),
    ],
    telemetry=False,
)
wf.run(input="Topic: interop databases", session_id="wf-s1", user_id="u1")

db.upsert_user_memory(
    UserMemory(memory="The user prefers short answers.", memory_id="mem-1", user_id="u1", topics=["preferences", "style"])
)
db.upsert_user_memory(
    UserMemory(memory="The user is writing a Rust port.", memory_id="mem-2", user_id="u1", topics=["projects"])
)

# Read back through a fresh instance: no in-memory caches.
db2 = open_db(args)
expected = {"sessions": {}, "memories": []}
for sid in ["agent-s1", "agent-s2", "team-s1", "wf-s1"]:
    s = db2.get_session(sid)
    raw = db2.get_session(sid, deserialize=False)
    stype = getattr(raw["session_type"], "value", raw["session_type"])
    expected["sessions"][sid] = session_summary(s, stype)
for mem in sorted(db2.get_user_memories(user_id="u1"), key=lambda x: x.memory_id):
    expected["memories"].append({"memory_id": mem.memory_id, "memory": mem.memory, "topics": mem.topics, "user_id": mem.user_id})
emit(expected)
