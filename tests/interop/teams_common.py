"""What the team interop scripts share: the team agno-run's test config declares, rebuilt as a
Python Agno `Team` (same ids, names, roles, models), and Agno's view of a team session as JSON."""
import json
import traceback

from _common import enum_val

MEMBERS = [("researcher", "Researcher", "Finds facts"), ("writer", "Writer", "Writes prose")]


def team(team_id, mode, db, base_url=None):
    """Team(id=team_id, mode=mode, members=[researcher, writer], add_history_to_context=True, db=db),
    each model `mock-<agent id>` (the leader `mock-leader`) at base_url."""
    from agno.agent import Agent
    from agno.models.openai import OpenAIChat
    from agno.team import Team
    from agno.team.mode import TeamMode

    def model(model_id):
        return OpenAIChat(id=model_id, base_url=base_url or "http://127.0.0.1:9/v1", api_key="mock-key")

    members = [
        Agent(id=aid, name=name, role=role, model=model(f"mock-{aid}"), telemetry=False) for aid, name, role in MEMBERS
    ]
    return Team(
        id=team_id,
        name="Crew",
        members=members,
        mode=TeamMode(mode),
        model=model("mock-leader"),
        db=db,
        add_history_to_context=True,
        telemetry=False,
    )


def jsonable(v):
    return json.loads(json.dumps(v, default=str))


def run_summary(r):
    tools = getattr(r, "tools", None) or []
    inp = getattr(r, "input", None)
    d = {
        "class": type(r).__name__,
        "run_id": r.run_id,
        "parent_run_id": getattr(r, "parent_run_id", None),
        "agent_id": getattr(r, "agent_id", None),
        "team_id": getattr(r, "team_id", None),
        "session_id": getattr(r, "session_id", None),
        "user_id": getattr(r, "user_id", None),
        "status": enum_val(getattr(r, "status", None)),
        "content": jsonable(r.content),
        "input": jsonable(getattr(inp, "input_content", inp)),
        "roles": [m.role for m in (getattr(r, "messages", None) or [])],
        "last_message": jsonable((getattr(r, "messages", None) or [None])[-1].content) if getattr(r, "messages", None) else None,
        "tools": [
            {"tool_name": t.tool_name, "tool_args": jsonable(t.tool_args), "child_run_id": t.child_run_id, "result": jsonable(t.result)}
            for t in tools
        ],
    }
    members = getattr(r, "member_responses", None)
    if members is not None:
        d["member_responses"] = [run_summary(m) for m in members]
    return d


def session_summary(s):
    if s is None:
        return None
    return {
        "class": type(s).__name__,
        "session_id": s.session_id,
        "team_id": getattr(s, "team_id", None),
        "user_id": s.user_id,
        "team_data": jsonable(getattr(s, "team_data", None)),
        "session_data": jsonable(s.session_data),
        "runs": [run_summary(r) for r in (s.runs or [])],
        "to_dict_keys": sorted(s.to_dict().keys()),
    }


def attempt(out, key, fn):
    """out[key] = fn(), or out[key + "_error"] = the traceback: one failing read does not hide the others."""
    try:
        out[key] = fn()
    except Exception:
        out[key + "_error"] = traceback.format_exc()
