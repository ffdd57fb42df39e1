"""Shared helpers of the interop scripts: open the database named on the command line, and
summarize sessions and runs the way /work/shared/fixtures/agno/generate.py does."""
import argparse
import json
import os

os.environ.setdefault("AGNO_TELEMETRY", "false")
os.environ.setdefault("OPENAI_API_KEY", "mock-key")


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--sqlite", help="SQLite file (SqliteDb(db_file=...))")
    p.add_argument("--pg", help="SQLAlchemy URL for PostgresDb(db_url=...)")
    p.add_argument("--schema", help="PostgresDb(db_schema=...)")
    return p


def open_db(args):
    if args.sqlite:
        from agno.db.sqlite import SqliteDb

        return SqliteDb(db_file=args.sqlite)
    if args.pg:
        from agno.db.postgres import PostgresDb

        return PostgresDb(db_url=args.pg, db_schema=args.schema or "ai")
    raise SystemExit("give --sqlite FILE or --pg URL")


def model(base_url):
    from agno.models.openai import OpenAIChat

    return OpenAIChat(id="gpt-4o-mini", base_url=base_url, api_key="mock-key")


def enum_val(v):
    return getattr(v, "value", v)


def run_summary(r):
    msgs = getattr(r, "messages", None) or []
    d = {
        "run_id": r.run_id,
        "status": enum_val(getattr(r, "status", None)),
        "content": r.content if isinstance(r.content, (str, type(None))) else json.loads(json.dumps(r.content, default=str)),
        "n_messages": len(msgs),
        "roles": [m.role for m in msgs],
        "messages": [
            {"role": m.role, "content": m.content, "from_history": bool(getattr(m, "from_history", False))} for m in msgs
        ],
        "kind": type(r).__name__,
    }
    inp = getattr(r, "input", None)
    if isinstance(inp, str):
        d["input"] = inp
    elif inp is not None and getattr(inp, "input_content", None) is not None:
        d["input"] = inp.input_content if isinstance(inp.input_content, str) else str(inp.input_content)
    for k in ("agent_id", "team_id", "workflow_id", "parent_run_id"):
        v = getattr(r, k, None)
        if v is not None:
            d[k] = v
    steps = getattr(r, "step_results", None)
    if steps:
        d["steps"] = [
            {
                "step_name": getattr(s, "step_name", None),
                "executor_type": getattr(s, "executor_type", None),
                "executor_name": getattr(s, "executor_name", None),
                "success": getattr(s, "success", None),
                "content": getattr(s, "content", None),
            }
            for s in steps
        ]
    inner = getattr(r, "step_executor_runs", None)
    if inner:
        d["step_executor_runs"] = [run_summary(x) for x in inner]
    return d


def session_summary(s, session_type):
    sd = s.session_data or {}
    entry = {"session_id": s.session_id, "session_type": session_type, "user_id": s.user_id}
    cls = type(s).__name__
    if cls == "AgentSession":
        entry["agent_id"] = s.agent_id
    elif cls == "TeamSession":
        entry["team_id"] = s.team_id
    else:
        entry["workflow_id"] = s.workflow_id
    entry["session_name"] = sd.get("session_name")
    entry["session_state"] = sd.get("session_state")
    entry["runs"] = [run_summary(r) for r in (s.runs or [])]
    return entry


MARKER = "AGNO_INTEROP_JSON "


def emit(obj):
    """Print the result on one line behind MARKER, so Agno's own log lines on stdout are ignored."""
    print(MARKER + json.dumps(obj, default=str), flush=True)
