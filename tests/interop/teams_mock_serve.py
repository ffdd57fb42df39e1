"""Serve tests/agno_teams_workflows/mock_model.py (the Agno teams fixtures' scripted mock, checked
equal to the shared fixtures by tests/teams.rs) for a test:
record every request and the mock's decision as one JSON line in RECORD, print `listening PORT`,
and exit when stdin closes, so no server outlives its test.

usage: python teams_mock_serve.py PORT RECORD      (PORT 0: any free port)
"""
import json
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "agno_teams_workflows"))
import mock_model as mock  # noqa: E402

port, record = int(sys.argv[1]), sys.argv[2]
decide = mock.decide
lock = threading.Lock()


def recording_decide(req):
    # The handler calls decide() before it answers, so a request is on file before its reply is sent.
    decision = decide(req)
    with lock, open(record, "a") as f:
        f.write(json.dumps({"request": req, "reply": mock._describe(decision)}) + "\n")
    return decision


mock.decide = recording_decide
server = mock.Server(("127.0.0.1", port), mock.Handler)
print("listening", server.server_address[1], flush=True)
threading.Thread(target=lambda: (sys.stdin.read(), server.shutdown()), daemon=True).start()
server.serve_forever(poll_interval=0.2)
