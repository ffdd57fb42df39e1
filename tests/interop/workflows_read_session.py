"""Read a workflow session the way an Agno 3.x user would: through the database and through a
`Workflow` with the same id and db (its steps are simple function steps: only reading matters).

usage: python workflows_read_session.py (--sqlite FILE | --pg URL --schema S) --workflow ID --session ID [--user U]
prints {"db_session": db.get_session(id, SessionType.WORKFLOW), "workflow_session": workflow.get_session(id, user),
        "raw_keys": keys of get_session(deserialize=False)}, each session with its class, workflow_data,
to_dict() keys and runs: class, status, content, input, the step_results tree (StepOutput objects)
and the step_executor_runs (RunOutput / TeamRunOutput) with their links and to_dict() keys;
a read that raised is `<key>_error` with its traceback instead.
"""
from _common import emit, enum_val, open_db, parser
from teams_common import attempt, jsonable, run_summary

p = parser(__doc__)
p.add_argument("--workflow", required=True)
p.add_argument("--session", required=True)
p.add_argument("--user")
args = p.parse_args()

from agno.db.base import SessionType


def workflow(db):
    from agno.workflow import Step, Workflow
    from agno.workflow.types import StepOutput

    def noop(step_input):
        return StepOutput(content="unused")

    return Workflow(id=args.workflow, name="reader", db=db, steps=[Step(name="noop", executor=noop)], telemetry=False)


def step_summary(s):
    steps = getattr(s, "steps", None)
    return {
        "class": type(s).__name__,
        "step_name": s.step_name,
        "step_id": s.step_id,
        "step_type": enum_val(s.step_type),
        "executor_type": s.executor_type,
        "executor_name": s.executor_name,
        "step_run_id": s.step_run_id,
        "success": s.success,
        "error": jsonable(s.error),
        "content": jsonable(s.content),
        "steps": None if steps is None else [step_summary(x) for x in steps],
    }


def executor_summary(r):
    d = run_summary(r)
    d["workflow_step_id"] = getattr(r, "workflow_step_id", None)
    d["to_dict_keys"] = sorted(r.to_dict().keys())
    return d


def workflow_run_summary(r):
    inp = r.input
    return {
        "class": type(r).__name__,
        "run_id": r.run_id,
        "session_id": r.session_id,
        "workflow_id": r.workflow_id,
        "user_id": r.user_id,
        "status": enum_val(r.status),
        "content": jsonable(r.content),
        "input": jsonable(getattr(inp, "input_content", inp)),
        "step_results": [step_summary(s) for s in (r.step_results or [])],
        "step_executor_runs": [executor_summary(x) for x in (r.step_executor_runs or [])],
        "to_dict_keys": sorted(r.to_dict().keys()),
    }


def session_summary(s):
    if s is None:
        return None
    return {
        "class": type(s).__name__,
        "session_id": s.session_id,
        "workflow_id": s.workflow_id,
        "user_id": s.user_id,
        "workflow_data": jsonable(s.workflow_data),
        "runs": [workflow_run_summary(r) for r in (s.runs or [])],
        "to_dict_keys": sorted(s.to_dict().keys()),
    }


out = {}
attempt(out, "db_session", lambda: session_summary(open_db(args).get_session(args.session, SessionType.WORKFLOW)))
attempt(
    out,
    "workflow_session",
    lambda: session_summary(workflow(open_db(args)).get_session(session_id=args.session, user_id=args.user)),
)
attempt(
    out,
    "raw_keys",
    lambda: sorted(open_db(args).get_session(args.session, SessionType.WORKFLOW, deserialize=False).keys()),
)
emit(out)
