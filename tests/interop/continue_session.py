"""Continue an existing agent session with Python Agno, against the mock OpenAI server.

usage: python continue_session.py (--sqlite FILE | --pg URL --schema S) --base-url URL --session ID --user U --message TEXT
prints {"run_id", "status", "content"} of the new run.
"""
from _common import emit, enum_val, model, open_db, parser

p = parser(__doc__)
p.add_argument("--base-url", required=True)
p.add_argument("--session", required=True)
p.add_argument("--user", required=True)
p.add_argument("--message", required=True)
args = p.parse_args()

from agno.agent import Agent

agent = Agent(
    id="assistant",
    name="Assistant",
    model=model(args.base_url),
    db=open_db(args),
    add_history_to_context=True,
    num_history_runs=2,
    telemetry=False,
)
r = agent.run(args.message, session_id=args.session, user_id=args.user)
emit({"run_id": r.run_id, "status": enum_val(r.status), "content": r.content})
