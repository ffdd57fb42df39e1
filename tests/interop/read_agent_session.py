"""Read an agent session through a Python Agno `Agent` and its database, as an Agno user would.

usage: python read_agent_session.py (--sqlite FILE | --pg URL --schema S) --agent ID --session ID [--user U]
prints {"agent_session": Agent(id, db).get_session(session_id, user_id) summarized (or null),
        "db_session": db.get_session(session_id, SessionType.AGENT) summarized (or null),
        "chat_history": Agent.get_chat_history(session_id) as [{role, content, from_history}],
        "session_messages": Agent.get_session_messages(session_id) likewise,
        "session_get_messages": AgentSession.get_messages() likewise}
"""
from _common import emit, open_db, parser, session_summary

p = parser(__doc__)
p.add_argument("--agent", required=True)
p.add_argument("--session", required=True)
p.add_argument("--user")
args = p.parse_args()

from agno.agent import Agent
from agno.db.base import SessionType


def msgs(ms):
    return [{"role": m.role, "content": m.content, "from_history": bool(getattr(m, "from_history", False))} for m in ms or []]


db = open_db(args)
agent = Agent(id=args.agent, db=db, telemetry=False)
s = agent.get_session(session_id=args.session, user_id=args.user)
raw = open_db(args).get_session(session_id=args.session, session_type=SessionType.AGENT)
emit(
    {
        "agent_session": session_summary(s, "agent") if s is not None else None,
        "db_session": session_summary(raw, "agent") if raw is not None else None,
        "chat_history": msgs(agent.get_chat_history(session_id=args.session)),
        "session_messages": msgs(agent.get_session_messages(session_id=args.session)),
        "session_get_messages": msgs(s.get_messages()) if s is not None else None,
    }
)
