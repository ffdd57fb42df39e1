"""Drive agno-run's AgentOS server with Agno's own client code, unchanged: every call goes
through `agno.client.os.AgentOSClient` or `agno.agent.RemoteAgent` (the same calls as
/work/shared/reference/agentos/tools/capture.py); raw httpx only where the client has no method
(GET /health). Any client exception ends the script with its traceback; an SSE event the
client logged and skipped (bad JSON, unknown event, validation error) also fails it.

Usage:
  agentos_client.py BASE_URL [--mode full|auth] [--token KEY] [--user USER] [--tag TAG]

`full` exercises config, agents, runs (stream and not), teams, workflows, cancel, sessions and
memories against the config of tests/interop_server.rs. `auth` (a server with
`server.security_key` = KEY) checks that the client raises HTTPStatusError 401 without the
bearer and works with `headers={"Authorization": "Bearer KEY"}` / `auth_token=KEY`.

Prints one line `AGNO_INTEROP_JSON {...}`: what the client parsed (its classes and fields).
"""

import argparse
import asyncio
import json
import logging
import os
import sys
from typing import Any, Dict, List, Optional

os.environ.setdefault("AGNO_TELEMETRY", "false")

import httpx  # noqa: E402

from agno.agent import RemoteAgent  # noqa: E402
from agno.client.os import AgentOSClient  # noqa: E402
from agno.db.base import SessionType  # noqa: E402
from agno.utils import http as agno_http  # noqa: E402

MARKER = "AGNO_INTEROP_JSON "


class ListHandler(logging.Handler):
    """Keeps what the client logs: `_parse_sse_events` logs, and skips, events it cannot parse."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage())


LOG = ListHandler()
logging.getLogger("agno").addHandler(LOG)


def enum_val(v: Any) -> Any:
    return getattr(v, "value", v)


def jsonable(v: Any) -> Any:
    return json.loads(json.dumps(v, default=str))


def run_output(r: Any) -> Dict[str, Any]:
    """A `RunOutput` / `TeamRunOutput` / `WorkflowRunOutput` as the client parsed it."""
    d: Dict[str, Any] = {
        "class": type(r).__name__,
        "run_id": r.run_id,
        "session_id": r.session_id,
        "status": enum_val(r.status),
        "content": jsonable(r.content),
    }
    for k in ("agent_id", "agent_name", "team_id", "team_name", "workflow_id", "workflow_name", "user_id"):
        if hasattr(r, k):
            d[k] = getattr(r, k)
    msgs = getattr(r, "messages", None) or []
    d["message_classes"] = sorted({type(m).__name__ for m in msgs})
    d["roles"] = [m.role for m in msgs]
    metrics = getattr(r, "metrics", None)
    d["metrics_class"] = type(metrics).__name__ if metrics is not None else None
    d["total_tokens"] = getattr(metrics, "total_tokens", None) if metrics is not None else None
    tools = getattr(r, "tools", None) or []
    d["tools"] = [{"class": type(t).__name__, "tool_name": t.tool_name, "result": t.result} for t in tools]
    members = getattr(r, "member_responses", None) or []
    d["member_responses"] = [
        {"class": type(m).__name__, "agent_id": getattr(m, "agent_id", None), "content": jsonable(m.content)}
        for m in members
    ]
    steps = getattr(r, "step_results", None) or []
    d["step_results"] = [
        {"class": type(s).__name__, "step_name": getattr(s, "step_name", None), "content": jsonable(getattr(s, "content", None))}
        for s in steps
    ]
    return d


def events_summary(events: List[Any]) -> Dict[str, Any]:
    """The typed events a stream yielded: their classes and names, the deltas joined, and the
    fields of the terminal events."""
    out: Dict[str, Any] = {
        "classes": [type(e).__name__ for e in events],
        "names": [e.event for e in events],
        "modules": sorted({type(e).__module__ for e in events}),
        "run_ids": sorted({e.run_id for e in events if getattr(e, "run_id", None)}),
        "session_ids": sorted({e.session_id for e in events if getattr(e, "session_id", None)}),
    }
    deltas: Dict[str, str] = {}
    completed: List[Dict[str, Any]] = []
    tools: List[Dict[str, Any]] = []
    steps: List[Dict[str, Any]] = []
    for e in events:
        name = e.event
        if name in ("RunContent", "TeamRunContent") and isinstance(getattr(e, "content", None), str):
            deltas[e.run_id] = deltas.get(e.run_id, "") + e.content
        if name in ("RunCompleted", "TeamRunCompleted", "WorkflowCompleted"):
            completed.append(
                {
                    "class": type(e).__name__,
                    "event": name,
                    "run_id": e.run_id,
                    "content": jsonable(e.content),
                    "agent_id": getattr(e, "agent_id", None),
                    "team_id": getattr(e, "team_id", None),
                    "workflow_id": getattr(e, "workflow_id", None),
                    "metrics_class": type(getattr(e, "metrics", None)).__name__,
                    "step_results": len(getattr(e, "step_results", None) or []),
                    "member_responses": [
                        {"class": type(m).__name__, "agent_id": getattr(m, "agent_id", None), "content": jsonable(m.content)}
                        for m in (getattr(e, "member_responses", None) or [])
                    ],
                }
            )
        if name in ("ToolCallStarted", "ToolCallCompleted", "TeamToolCallStarted", "TeamToolCallCompleted"):
            t = e.tool
            tools.append(
                {
                    "event": name,
                    "class": type(t).__name__ if t is not None else None,
                    "tool_name": getattr(t, "tool_name", None),
                    "tool_args": getattr(t, "tool_args", None),
                    "result": getattr(t, "result", None),
                }
            )
        if name in ("StepStarted", "StepCompleted"):
            step = {"event": name, "step_name": e.step_name, "step_index": jsonable(e.step_index)}
            if name == "StepCompleted":
                step["content"] = jsonable(e.content)
                r = e.step_response
                step["response_content"] = jsonable(r.get("content") if isinstance(r, dict) else getattr(r, "content", None))
            steps.append(step)
        if name in ("RunStarted", "RunContent", "RunCompleted") and getattr(e, "step_name", None):
            steps.append({"event": name, "step_name": e.step_name, "agent_id": e.agent_id, "workflow_run_id": e.workflow_run_id})
    out["deltas"] = deltas
    out["completed"] = completed
    out["tools"] = tools
    out["steps"] = steps
    return out


async def collect(stream) -> List[Any]:
    return [e async for e in stream]


def await_stream(stream):
    """`RemoteAgent.arun(stream=True)` returns the async iterator itself."""
    return stream


async def expect_status(coro) -> Optional[int]:
    """The status of the HTTPStatusError the call raised, or None when it returned."""
    try:
        await coro
    except httpx.HTTPStatusError as e:
        return e.response.status_code
    return None


async def expect_status_stream(stream) -> Optional[int]:
    try:
        async for _ in stream:
            pass
    except httpx.HTTPStatusError as e:
        return e.response.status_code
    return None


def session_row(s: Any) -> Dict[str, Any]:
    return {
        "class": type(s).__name__,
        "session_id": s.session_id,
        "session_name": s.session_name,
        "session_type": s.session_type,
        "user_id": s.user_id,
        "agent_id": s.agent_id,
        "team_id": s.team_id,
        "workflow_id": s.workflow_id,
        "created_at": s.created_at.isoformat() if s.created_at else None,
        "updated_at": s.updated_at.isoformat() if s.updated_at else None,
        "session_state": s.session_state,
        "metadata": s.metadata,
    }


def page_summary(page: Any, row) -> Dict[str, Any]:
    return {"class": type(page).__name__, "data": [row(x) for x in page.data], "meta": page.meta.model_dump()}


def detail(d: Any) -> Dict[str, Any]:
    out = {"class": type(d).__name__}
    for k in (
        "session_id",
        "agent_session_id",
        "session_name",
        "session_state",
        "metadata",
        "session_summary",
        "user_id",
        "agent_id",
        "team_id",
        "workflow_id",
        "workflow_name",
        "total_tokens",
    ):
        if hasattr(d, k):
            out[k] = jsonable(getattr(d, k))
    hist = getattr(d, "chat_history", None)
    if hist is not None:
        out["chat_roles"] = [m.get("role") if isinstance(m, dict) else getattr(m, "role", None) for m in hist]
    for k in ("created_at", "updated_at"):
        v = getattr(d, k, None)
        out[k] = v.isoformat() if hasattr(v, "isoformat") else v
    return out


def run_schema(r: Any) -> Dict[str, Any]:
    out = {"class": type(r).__name__, "run_id": r.run_id}
    for k in ("parent_run_id", "agent_id", "team_id", "workflow_id", "user_id", "status", "run_input", "content"):
        if hasattr(r, k):
            out[k] = jsonable(enum_val(getattr(r, k)))
    msgs = getattr(r, "messages", None)
    out["n_messages"] = len(msgs) if msgs is not None else None
    return out


def memory(m: Any) -> Dict[str, Any]:
    return {
        "class": type(m).__name__,
        "memory_id": m.memory_id,
        "memory": m.memory,
        "topics": m.topics,
        "user_id": m.user_id,
        "updated_at": m.updated_at.isoformat() if m.updated_at else None,
    }


async def full(base: str, user: str, tag: str) -> Dict[str, Any]:
    client = AgentOSClient(base_url=base, timeout=60)
    aclient = agno_http.get_default_async_client()
    res: Dict[str, Any] = {}

    # Discovery. AgentOSClient has no health method: plain GET on agno's shared httpx client.
    r = await aclient.get(f"{base}/health")
    r.raise_for_status()
    res["health"] = r.json()

    cfg = await client.aget_config()
    res["config"] = {
        "class": type(cfg).__name__,
        "os_id": cfg.os_id,
        "databases": cfg.databases,
        "agents": [a.id for a in cfg.agents or []],
        "teams": [t.id for t in cfg.teams or []],
        "workflows": [w.id for w in cfg.workflows or []],
        "session_dbs": [{"db_id": d.db_id, "tables": d.tables} for d in (cfg.session.dbs if cfg.session else [])],
        "memory_dbs": [{"db_id": d.db_id, "tables": d.tables} for d in (cfg.memory.dbs if cfg.memory else [])],
    }
    res["config_sync"] = client.get_config().os_id

    agents = await client.list_agents()
    res["agents"] = [{"class": type(a).__name__, "id": a.id, "name": a.name, "db_id": a.db_id} for a in agents]
    ag = await client.aget_agent("assistant")
    res["agent"] = {
        "class": type(ag).__name__,
        "id": ag.id,
        "name": ag.name,
        "db_id": ag.db_id,
        "description": ag.description,
        "model": jsonable(ag.model),
        "sessions": jsonable(ag.sessions),
    }
    res["agent_sync"] = client.get_agent("calc").name
    teams = await client.list_teams()
    res["teams"] = [{"class": type(t).__name__, "id": t.id, "name": t.name} for t in teams]
    tm = await client.aget_team("crew")
    res["team"] = {
        "class": type(tm).__name__,
        "id": tm.id,
        "name": tm.name,
        "mode": jsonable(getattr(tm, "mode", None)),
        "members": [m.get("id") if isinstance(m, dict) else getattr(m, "id", None) for m in (tm.members or [])],
    }
    wfs = await client.list_workflows()
    res["workflows"] = [{"class": type(w).__name__, "id": w.id, "name": w.name} for w in wfs]
    wf = await client.aget_workflow("pipe")
    res["workflow"] = {
        "class": type(wf).__name__,
        "id": wf.id,
        "name": wf.name,
        "steps": [s.get("name") if isinstance(s, dict) else getattr(s, "name", None) for s in (wf.steps or [])],
    }

    # Agent runs.
    agent_session = f"{tag}-agent"
    out = await client.run_agent("assistant", message="Hello there", session_id=agent_session, user_id=user)
    res["agent_run"] = run_output(out)
    events = await collect(
        client.run_agent_stream("assistant", message="And again, briefly", session_id=agent_session, user_id=user)
    )
    res["agent_stream"] = events_summary(events)
    # A run with session_state and extra kwargs, as RemoteAgent and the client send them.
    out = await client.run_agent(
        "assistant",
        message="With state",
        session_id=f"{tag}-state",
        user_id=user,
        session_state={"counter": 7},
        metadata={"source": "interop"},
        add_history_to_context=True,
    )
    res["agent_run_state"] = run_output(out)
    events = await collect(client.run_agent_stream("calc", message="What is 2+2?", user_id=user))
    res["calc_stream"] = events_summary(events)

    # Teams and workflows.
    team_session = f"{tag}-team"
    tout = await client.run_team("crew", message="Plan a picnic", session_id=team_session, user_id=user)
    res["team_run"] = run_output(tout)
    events = await collect(
        client.run_team_stream("crew", message="Now a shorter plan", session_id=team_session, user_id=user)
    )
    res["team_stream"] = events_summary(events)
    wf_session = f"{tag}-workflow"
    wout = await client.run_workflow("pipe", message="Write a haiku", session_id=wf_session, user_id=user)
    res["workflow_run"] = run_output(wout)
    events = await collect(
        client.run_workflow_stream("pipe", message="Another haiku", session_id=wf_session, user_id=user)
    )
    res["workflow_stream"] = events_summary(events)

    # A model that cannot be reached is no HTTP error: status ERROR, or a stream ending in RunError.
    out = await client.run_agent("broken", message="Hello", session_id=f"{tag}-broken", user_id=user)
    res["broken_run"] = run_output(out)
    events = await collect(client.run_agent_stream("broken", message="Hello", session_id=f"{tag}-broken", user_id=user))
    res["broken_stream"] = events_summary(events)
    res["broken_stream"]["last"] = {
        "class": type(events[-1]).__name__,
        "content": jsonable(getattr(events[-1], "content", None)),
        "error_type": getattr(events[-1], "error_type", None),
    }

    # Cancel a run in flight (its model never answers): through RemoteAgent, seen in the stream.
    slow = RemoteAgent(base_url=base, agent_id="slow")
    seen: List[Any] = []
    cancelled: Optional[bool] = None
    async for ev in await_stream(slow.arun("Never answered", stream=True, session_id=f"{tag}-slow", user_id=user)):
        seen.append(ev)
        if ev.event == "RunStarted" and cancelled is None:
            await asyncio.sleep(0.3)
            cancelled = await slow.acancel_run(ev.run_id)
    res["slow_cancel"] = cancelled
    res["slow_stream"] = events_summary(seen)
    res["slow_stream"]["last"] = {"class": type(seen[-1]).__name__, "event": seen[-1].event} if seen else None

    # Cancel: an unknown run is answered 2xx (the client returns None), on all three routes.
    res["cancel_agent"] = await client.cancel_agent_run("assistant", "run-that-does-not-exist")
    res["cancel_team"] = await client.cancel_team_run("crew", "run-that-does-not-exist")
    res["cancel_workflow"] = await client.cancel_workflow_run("pipe", "run-that-does-not-exist")
    res["cancel_completed"] = await client.cancel_agent_run("assistant", res["agent_run"]["run_id"])

    # RemoteAgent: properties read GET /agents/{id} (and /config) with the sync client.
    remote = RemoteAgent(base_url=base, agent_id="assistant")
    rdb = remote.db
    res["remote"] = {
        "name": remote.name,
        "description": remote.description,
        "role": remote.role,
        "id": remote.id,
        "db": None
        if rdb is None
        else {"id": rdb.id, "session_table": rdb.session_table_name, "memory_table": rdb.memory_table_name},
    }
    remote_session = f"{tag}-remote"
    rout = await remote.arun("Remote hello", session_id=remote_session, user_id=user)
    res["remote_run"] = run_output(rout)
    revents = await collect(remote.arun("Remote stream", stream=True, session_id=remote_session, user_id=user))
    res["remote_stream"] = events_summary(revents)
    res["remote_cancel_unknown"] = await remote.acancel_run("run-that-does-not-exist")
    res["remote_cancel_done"] = await remote.acancel_run(rout.run_id)
    res["remote_unknown_agent_status"] = await expect_status(RemoteAgent(base_url=base, agent_id="nobody").arun("hi"))

    # Sessions.
    res["sessions_agent"] = page_summary(await client.get_sessions(session_type=SessionType.AGENT), session_row)
    res["sessions_agent_user"] = page_summary(
        await client.get_sessions(session_type=SessionType.AGENT, user_id=user, component_id="assistant"),
        session_row,
    )
    res["sessions_team"] = page_summary(
        await client.get_sessions(session_type=SessionType.TEAM, component_id="crew"), session_row
    )
    res["sessions_workflow"] = page_summary(
        await client.get_sessions(session_type=SessionType.WORKFLOW, component_id="pipe"), session_row
    )
    res["sessions_all_page2"] = page_summary(
        await client.get_sessions(user_id=user, limit=1, page=2, sort_by="updated_at", sort_order="asc"), session_row
    )
    res["sessions_agent_page1"] = page_summary(
        await client.get_sessions(session_type=SessionType.AGENT, user_id=user, limit=2, page=1, sort_by="created_at", sort_order="asc"),
        session_row,
    )
    res["sessions_agent_page2"] = page_summary(
        await client.get_sessions(session_type=SessionType.AGENT, user_id=user, limit=2, page=2, sort_by="created_at", sort_order="asc"),
        session_row,
    )
    res["sessions_team_past_end"] = page_summary(
        await client.get_sessions(session_type=SessionType.TEAM, component_id="crew", limit=5, page=2), session_row
    )

    created = await client.create_session(
        session_type=SessionType.AGENT,
        session_id=f"{tag}-created",
        user_id=user,
        session_name="Created by the client",
        session_state={"counter": 1},
        metadata={"source": "interop"},
        agent_id="assistant",
    )
    res["session_create"] = detail(created)
    res["session_get_created"] = detail(await client.get_session(f"{tag}-created"))

    # Detail: type inferred from the body (agent_id / team_id / workflow_id).
    res["session_get"] = detail(await client.get_session(agent_session))
    res["session_get_user"] = detail(await client.get_session(agent_session, user_id=user))
    res["session_get_team"] = detail(await client.get_session(team_session))
    res["session_get_team_typed"] = detail(await client.get_session(team_session, session_type=SessionType.TEAM))
    res["session_get_workflow"] = detail(await client.get_session(wf_session))
    res["session_get_workflow_typed"] = detail(
        await client.get_session(wf_session, session_type=SessionType.WORKFLOW)
    )

    runs = await client.get_session_runs(agent_session)
    res["session_runs"] = [run_schema(r) for r in runs]
    res["session_runs_typed"] = [run_schema(r) for r in await client.get_session_runs(agent_session, session_type=SessionType.AGENT)]
    res["session_runs_status"] = [
        run_schema(r) for r in await client.get_session_runs(agent_session, status=["COMPLETED"])
    ]
    res["session_runs_statuses"] = [
        run_schema(r) for r in await client.get_session_runs(agent_session, status=["ERROR", "completed"])
    ]
    res["session_runs_error"] = [run_schema(r) for r in await client.get_session_runs(agent_session, status=["ERROR"])]
    res["session_runs_team"] = [
        run_schema(r) for r in await client.get_session_runs(team_session, session_type=SessionType.TEAM)
    ]
    res["session_runs_workflow"] = [run_schema(r) for r in await client.get_session_runs(wf_session)]
    res["session_run"] = run_schema(await client.get_session_run(agent_session, res["agent_run"]["run_id"]))
    res["session_run_team"] = run_schema(await client.get_session_run(team_session, res["team_run"]["run_id"]))
    res["session_run_workflow"] = run_schema(
        await client.get_session_run(wf_session, res["workflow_run"]["run_id"])
    )

    res["session_rename"] = detail(await client.rename_session(agent_session, "Renamed by the client"))
    res["session_update"] = detail(
        await client.update_session(
            agent_session,
            session_type=SessionType.AGENT,
            session_state={"mood": "calm"},
            metadata={"tag": "updated"},
            summary={"summary": "A short talk.", "topics": ["greeting"]},
        )
    )
    res["sessions_by_name"] = page_summary(
        await client.get_sessions(session_type=SessionType.AGENT, session_name="Renamed"), session_row
    )
    res["session_update_inferred"] = detail(await client.update_session(team_session, session_name="Team renamed"))
    res["session_after_update"] = detail(await client.get_session(agent_session))

    generated = await client.create_session(agent_id="assistant", user_id=user)  # no session_id: the server picks one
    res["session_create_generated"] = detail(generated)
    await client.delete_session(generated.session_id, user_id=user)
    res["session_generated_get_status"] = await expect_status(client.get_session(generated.session_id))

    await client.delete_session(f"{tag}-created")
    res["session_deleted_get_status"] = await expect_status(client.get_session(f"{tag}-created"))
    res["session_deleted_delete_status"] = await expect_status(client.delete_session(f"{tag}-created"))

    await client.create_session(session_type=SessionType.AGENT, session_id=f"{tag}-bulk-a", agent_id="assistant", user_id=user)
    await client.create_session(session_type=SessionType.TEAM, session_id=f"{tag}-bulk-b", team_id="crew", user_id=user)
    await client.create_session(
        session_type=SessionType.WORKFLOW, session_id=f"{tag}-bulk-c", workflow_id="pipe", user_id=user
    )
    res["bulk_before"] = sorted(
        s.session_id for s in (await client.get_sessions(user_id=user, limit=100)).data if "-bulk-" in s.session_id
    )
    res["bulk_delete"] = await client.delete_sessions(
        [f"{tag}-bulk-a", f"{tag}-bulk-b", f"{tag}-bulk-c"], [SessionType.AGENT, SessionType.TEAM, SessionType.WORKFLOW]
    )
    res["bulk_after"] = sorted(
        s.session_id for s in (await client.get_sessions(user_id=user, limit=100)).data if "-bulk-" in s.session_id
    )
    res["bulk_get_status"] = await expect_status(client.get_session(f"{tag}-bulk-b"))
    res["unknown_session_runs_status"] = await expect_status(client.get_session_runs("no-such-session"))
    res["unknown_run_status"] = await expect_status(client.get_session_run(agent_session, "no-such-run"))

    # Memories.
    m1 = await client.create_memory(memory="Likes green tea", user_id=user, topics=["preferences", "drinks"])
    m2 = await client.create_memory(memory="Lives in Lisbon", user_id=user, topics=["location"])
    m3 = await client.create_memory(memory="Someone else's memory", user_id=f"{user}-other", topics=["other"])
    res["memory_create"] = [memory(m) for m in (m1, m2, m3)]
    res["memories_list"] = page_summary(await client.list_memories(user_id=user), memory)
    res["memories_list_all"] = page_summary(await client.list_memories(), memory)
    res["memories_list_page"] = page_summary(
        await client.list_memories(user_id=user, limit=1, page=2, sort_by="updated_at", sort_order="desc"), memory
    )
    res["memories_list_topic"] = page_summary(await client.list_memories(user_id=user, topics=["location"]), memory)
    # AgentOS reads the first `topics` value, comma-separated, and wants every topic in it.
    res["memories_list_topics_repeated"] = page_summary(
        await client.list_memories(user_id=user, topics=["location", "preferences"]), memory
    )
    res["memories_list_topics_all"] = page_summary(
        await client.list_memories(user_id=user, topics=["preferences,drinks"]), memory
    )
    res["memories_list_topics_none"] = page_summary(
        await client.list_memories(user_id=user, topics=["preferences,location"]), memory
    )
    res["memories_list_search"] = page_summary(await client.list_memories(user_id=user, search_content="tea"), memory)
    res["memory_get"] = memory(await client.get_memory(m1.memory_id, user_id=user))
    res["memory_get_wrong_user_status"] = await expect_status(client.get_memory(m1.memory_id, user_id=f"{user}-other"))
    res["memory_update"] = memory(
        await client.update_memory(m1.memory_id, memory="Likes green tea, no sugar", user_id=user, topics=["preferences"])
    )
    res["memory_topics"] = await client.get_memory_topics()
    res["memory_topics_user"] = await client.get_memory_topics(user_id=user)
    stats = await client.get_user_memory_stats()
    res["memory_stats"] = {
        "class": type(stats).__name__,
        "data": [jsonable(s.model_dump(mode="json")) for s in stats.data],
        "row_classes": sorted({type(s).__name__ for s in stats.data}),
        "meta": stats.meta.model_dump(),
    }
    res["memory_delete"] = await client.delete_memory(m1.memory_id, user_id=user)
    res["memory_deleted_get_status"] = await expect_status(client.get_memory(m1.memory_id, user_id=user))
    res["memories_bulk_delete"] = await client.delete_memories([m2.memory_id, m3.memory_id], user_id=user)
    res["memories_after_bulk"] = page_summary(await client.list_memories(), memory)

    # Errors the client raises.
    res["unknown_agent_status"] = await expect_status(client.aget_agent("no-such-agent"))
    res["unknown_agent_run_status"] = await expect_status(client.run_agent("no-such-agent", message="hi"))
    res["unknown_team_run_status"] = await expect_status_stream(client.run_team_stream("no-such-team", message="hi"))
    res["unknown_session_status"] = await expect_status(client.get_session("no-such-session"))
    res["ids"] = {
        "agent_session": agent_session,
        "team_session": team_session,
        "workflow_session": wf_session,
        "remote_session": remote_session,
    }
    return res


async def auth(base: str, key: str, user: str, tag: str) -> Dict[str, Any]:
    client = AgentOSClient(base_url=base)
    aclient = agno_http.get_default_async_client()
    good = {"Authorization": f"Bearer {key}"}
    res: Dict[str, Any] = {}
    res["no_bearer_status"] = await expect_status(client.list_agents())
    res["wrong_bearer_status"] = await expect_status(client.list_agents(headers={"Authorization": "Bearer wrong-key"}))
    res["no_bearer_config_status"] = await expect_status(client.aget_config())
    res["no_bearer_run_status"] = await expect_status(client.run_agent("assistant", message="hi"))
    res["no_bearer_stream_status"] = await expect_status_stream(client.run_agent_stream("assistant", message="hi"))
    res["no_bearer_sessions_status"] = await expect_status(client.get_sessions())
    res["no_bearer_memories_status"] = await expect_status(client.list_memories())
    res["agents"] = [a.id for a in await client.list_agents(headers=good)]
    res["bare_token_agents"] = [a.id for a in await client.list_agents(headers={"Authorization": key})]
    res["config_os_id"] = (await client.aget_config(headers=good)).os_id
    out = await client.run_agent("assistant", message="Secured hello", session_id=f"{tag}-secured", user_id=user, headers=good)
    res["run"] = run_output(out)
    res["sessions"] = [s.session_id for s in (await client.get_sessions(user_id=user, headers=good)).data]
    res["session"] = detail(await client.get_session(f"{tag}-secured", headers=good))
    r = await aclient.get(f"{base}/health")
    res["health_status"] = r.status_code

    remote = RemoteAgent(base_url=base, agent_id="assistant")
    rout = await remote.arun("Remote secured", auth_token=key, session_id=f"{tag}-secured", user_id=user)
    res["remote_run"] = run_output(rout)
    evs = await collect(remote.arun("Remote secured stream", stream=True, auth_token=key, session_id=f"{tag}-secured", user_id=user))
    res["remote_stream"] = events_summary(evs)
    res["remote_no_token_status"] = await expect_status(remote.arun("hi"))
    res["remote_cancel_with_token"] = await remote.acancel_run("run-that-does-not-exist", auth_token=key)
    res["remote_cancel_without_token"] = await remote.acancel_run("run-that-does-not-exist")
    try:
        _ = remote.name  # the sync GET /agents/{id} sends no bearer
        res["remote_name_without_token"] = "returned"
    except httpx.HTTPStatusError as e:
        res["remote_name_without_token"] = e.response.status_code
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("base_url")
    p.add_argument("--mode", choices=["full", "auth"], default="full")
    p.add_argument("--token", help="the server's security key (auth mode)")
    p.add_argument("--user", default="interop-user")
    p.add_argument("--tag", default="interop")
    args = p.parse_args()
    if args.mode == "full":
        res = asyncio.run(full(args.base_url.rstrip("/"), args.user, args.tag))
    else:
        if not args.token:
            raise SystemExit("--mode auth needs --token")
        res = asyncio.run(auth(args.base_url.rstrip("/"), args.token, args.user, args.tag))
    skipped = [m for m in LOG.records if "Unknown event type" in m or "Failed to parse SSE" in m or "Unknown" in m]
    res["client_log"] = LOG.records
    print(MARKER + json.dumps(res, default=str))
    if skipped:
        print("the client skipped SSE events it could not parse:\n" + "\n".join(skipped), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
