"""User memories and session summaries written and read by Python Agno, so the Rust tests can check
that both sides share the memory table and the sessions' `summary` column.

usage: python memory_agno.py SUBCOMMAND (--sqlite FILE | --pg URL --schema S) [--memory-table T] ...
  add --user U --id ID --memory TEXT [--topic T ...] [--created-at EPOCH]   -> {"ok": true}
  list --user U                                                             -> {"memories": [...]}
  summary --session S                                                       -> {"summary": {...} | null}
  set-summary --session S --agent A --user U --text T [--topic X ...]       -> {"ok": true}
  run --base-url URL --agent A --session S --user U --message M [--update-memory-on-run]
      [--agentic-memory] [--add-memories-to-context | --no-memories-to-context]
      [--session-summaries] [--stream [--stream-events]]
      -> {"content", "status", "run_id", "events", "memories", "summary"}
Memories are listed in the order db.get_user_memories(user_id=U) returns them (no ORDER BY).
"""
import argparse
import time
from datetime import datetime

from _common import emit, enum_val, model, open_db, parser

db_args = parser(None)
db_args.add_argument("--memory-table", help="memory_table= of the db (default agno_memories)")

top = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
sub = top.add_subparsers(dest="cmd", required=True)


def command(name):
    return sub.add_parser(name, parents=[db_args], conflict_handler="resolve")


c = command("add")
c.add_argument("--user", required=True)
c.add_argument("--id", required=True)
c.add_argument("--memory", required=True)
c.add_argument("--topic", action="append")
c.add_argument("--created-at", type=int, help="epoch seconds (default: now)")

c = command("list")
c.add_argument("--user", required=True)

c = command("summary")
c.add_argument("--session", required=True)

c = command("set-summary")
c.add_argument("--session", required=True)
c.add_argument("--agent", required=True)
c.add_argument("--user", required=True)
c.add_argument("--text", required=True)
c.add_argument("--topic", action="append")

c = command("run")
c.add_argument("--base-url", required=True)
c.add_argument("--agent", required=True)
c.add_argument("--session", required=True)
c.add_argument("--user", required=True)
c.add_argument("--message", required=True)
c.add_argument("--update-memory-on-run", action="store_true")
c.add_argument("--agentic-memory", action="store_true")
ctx = c.add_mutually_exclusive_group()
ctx.add_argument("--add-memories-to-context", dest="memories_to_context", action="store_const", const=True)
ctx.add_argument("--no-memories-to-context", dest="memories_to_context", action="store_const", const=False)
c.add_argument("--session-summaries", action="store_true")
c.add_argument("--stream", action="store_true")
c.add_argument("--stream-events", action="store_true", help="with --stream: also the intermediate events")

args = top.parse_args()

from agno.db.base import SessionType, UserMemory
from agno.session import AgentSession
from agno.session.summary import SessionSummary

db = open_db(args)
with db.db_engine.connect():  # fail loudly: Agno logs and swallows connection errors on reads
    pass
if args.memory_table:
    db.memory_table_name = args.memory_table  # what memory_table= sets; tables are resolved lazily


def memories(user_id):
    keys = ("memory_id", "memory", "topics", "user_id", "agent_id", "team_id", "input", "created_at", "updated_at")
    return [{k: getattr(m, k) for k in keys} for m in db.get_user_memories(user_id=user_id)]


def summary(session_id):
    s = db.get_session(session_id=session_id, session_type=SessionType.AGENT)
    if s is None:
        s = db.get_session(session_id=session_id, session_type=SessionType.TEAM)
    return s.summary.to_dict() if s is not None and s.summary is not None else None


if args.cmd == "add":
    created = args.created_at if args.created_at is not None else int(time.time())
    db.upsert_user_memory(
        UserMemory(
            memory_id=args.id,
            memory=args.memory,
            topics=args.topic,
            user_id=args.user,
            created_at=created,
            updated_at=created,
        )
    )
    emit({"ok": True})

elif args.cmd == "list":
    emit({"memories": memories(args.user)})

elif args.cmd == "summary":
    emit({"summary": summary(args.session)})

elif args.cmd == "set-summary":
    session = db.get_session(session_id=args.session, session_type=SessionType.AGENT)
    if session is None:  # as agno/agent/_storage.py creates one (agent_data without a model)
        session = AgentSession(
            session_id=args.session,
            agent_id=args.agent,
            user_id=args.user,
            agent_data={"name": args.agent, "agent_id": args.agent},
            session_data={},
            created_at=int(time.time()),
        )
    # as SessionSummaryManager does: naive local datetime.now()
    session.summary = SessionSummary(summary=args.text, topics=args.topic, updated_at=datetime.now())
    db.upsert_session(session)
    emit({"ok": True})

elif args.cmd == "run":
    from agno.agent import Agent
    from agno.run.agent import RunOutput

    agent = Agent(
        id=args.agent,
        name=args.agent,
        model=model(args.base_url),
        db=db,
        update_memory_on_run=args.update_memory_on_run,
        enable_agentic_memory=args.agentic_memory,
        add_memories_to_context=args.memories_to_context,
        enable_session_summaries=args.session_summaries,
        telemetry=False,
    )
    events = []
    if args.stream:
        r = None
        for item in agent.run(
            args.message,
            session_id=args.session,
            user_id=args.user,
            stream=True,
            stream_events=args.stream_events,
            yield_run_output=True,
        ):
            if isinstance(item, RunOutput):
                r = item
            else:
                events.append(item.event)
    else:
        r = agent.run(args.message, session_id=args.session, user_id=args.user)
    emit(
        {
            "content": r.content,
            "status": enum_val(r.status),
            "run_id": r.run_id,
            "events": events,
            "memories": memories(args.user),
            "summary": summary(args.session),
        }
    )
