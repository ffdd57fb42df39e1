"""Run a Python Agno team (history on) in one session, once per --message, against the scripted mock.

usage: python teams_run.py (--sqlite FILE | --pg URL --schema S) --base-url URL --team ID --mode MODE
                           --session ID --user U --message TEXT [--message TEXT ...]
prints {"runs": [{class, run_id, status, content, member_responses}, ...]} in the order they ran.
"""
from _common import emit, enum_val, open_db, parser
from teams_common import team

p = parser(__doc__)
p.add_argument("--base-url", required=True)
p.add_argument("--team", required=True)
p.add_argument("--mode", required=True)
p.add_argument("--session", required=True)
p.add_argument("--user", required=True)
p.add_argument("--message", action="append", required=True)
args = p.parse_args()

t = team(args.team, args.mode, open_db(args), args.base_url)
runs = []
for message in args.message:
    r = t.run(message, session_id=args.session, user_id=args.user)
    runs.append({"class": type(r).__name__, "run_id": r.run_id, "status": enum_val(r.status), "content": r.content})
emit({"runs": runs})
