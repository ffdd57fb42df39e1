"""Read a team session the way an Agno 3.x user would: through the database and through a `Team`
with the same id, members and db.

usage: python teams_read_session.py (--sqlite FILE | --pg URL --schema S) --team ID --mode MODE --session ID [--user U]
prints {"db_session": db.get_session(id, SessionType.TEAM), "team_session": team.get_session(id, user),
        "db_runs": db.get_runs(session_id=id), "raw_keys": keys of get_session(deserialize=False)}
summarized by teams_common; a read that raised is `<key>_error` with its traceback instead.
"""
from _common import emit, open_db, parser
from teams_common import attempt, run_summary, session_summary, team

p = parser(__doc__)
p.add_argument("--team", required=True)
p.add_argument("--mode", required=True)
p.add_argument("--session", required=True)
p.add_argument("--user")
args = p.parse_args()

from agno.db.base import SessionType

out = {}
attempt(out, "db_session", lambda: session_summary(open_db(args).get_session(args.session, SessionType.TEAM)))
attempt(
    out,
    "team_session",
    lambda: session_summary(team(args.team, args.mode, open_db(args)).get_session(session_id=args.session, user_id=args.user)),
)
attempt(out, "db_runs", lambda: [run_summary(r) for r in open_db(args).get_runs(session_id=args.session)])
attempt(
    out,
    "raw_keys",
    lambda: sorted(open_db(args).get_session(args.session, SessionType.TEAM, deserialize=False).keys()),
)
emit(out)
