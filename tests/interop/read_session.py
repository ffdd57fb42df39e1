"""Read one session back through Agno's own API and print what Agno sees, as JSON.

usage: python read_session.py (--sqlite FILE | --pg URL --schema S) --session ID --type agent|team|workflow [--user U]
prints {"session": <summary or null>, "listed": [session ids of get_sessions(session_type, user_id)],
        "memories": [get_user_memories(user_id), sorted by memory_id]}
"""
from _common import emit, open_db, parser, session_summary

p = parser(__doc__)
p.add_argument("--session", required=True)
p.add_argument("--type", default="agent", choices=["agent", "team", "workflow"])
p.add_argument("--user")
args = p.parse_args()

from agno.db.base import SessionType

st = SessionType(args.type)
db = open_db(args)
s = db.get_session(session_id=args.session, session_type=st)
listed = db.get_sessions(session_type=st, user_id=args.user) if args.user else []
memories = sorted(db.get_user_memories(user_id=args.user), key=lambda m: m.memory_id) if args.user else []
emit(
    {
        "session": session_summary(s, args.type) if s is not None else None,
        "listed": [x.session_id for x in listed],
        "memories": [
            {"memory_id": m.memory_id, "memory": m.memory, "topics": m.topics, "user_id": m.user_id, "input": m.input}
            for m in memories
        ],
    }
)
