"""Run a Python Agno agent (history on) in one session, once per --message, against the mock
OpenAI server.

usage: python write_agent_runs.py (--sqlite FILE | --pg URL --schema S) --base-url URL --agent ID
                                  --session ID --user U --message TEXT [--message TEXT ...]
prints {"runs": [{"run_id", "status", "content"}, ...]} in the order they ran.
"""
from _common import emit, enum_val, model, open_db, parser

p = parser(__doc__)
p.add_argument("--base-url", required=True)
p.add_argument("--agent", required=True)
p.add_argument("--session", required=True)
p.add_argument("--user", required=True)
p.add_argument("--message", action="append", required=True)
args = p.parse_args()

from agno.agent import Agent

agent = Agent(
    id=args.agent,
    name="Assistant",
    model=model(args.base_url),
    db=open_db(args),
    add_history_to_context=True,
    num_history_runs=2,
    telemetry=False,
)
runs = []
for message in args.message:
    r = agent.run(message, session_id=args.session, user_id=args.user)
    runs.append({"run_id": r.run_id, "status": enum_val(r.status), "content": r.content})
emit({"runs": runs})
