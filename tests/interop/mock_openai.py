"""A tiny OpenAI-compatible chat-completions server for the interop tests.

usage: python mock_openai.py PORT RECORD_FILE [--echo]
  PORT 0 picks a free port. Prints `listening <port>` on stdout once it accepts connections.
  Every request body to /v1/chat/completions is appended to RECORD_FILE as one JSON line.
  The reply is REPLY, with no tool calls; `stream: true` gets server-sent events.
  With --echo the reply is `REPLY [re: <the last user message>]`, so that every answer differs.
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPLY = "This is a fixed reply from the mock model, long enough to look like an answer."
LOCK = threading.Lock()
ECHO = False


def reply_to(req):
    if not ECHO:
        return REPLY
    users = [m for m in req.get("messages") or [] if m.get("role") == "user"]
    last = users[-1].get("content") if users else None
    if not isinstance(last, str):
        last = json.dumps(last)
    return f"{REPLY} [re: {last}]"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep the test output quiet
        pass

    def _send(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "owned_by": "mock"}]})
        else:
            self._send(404, {"error": {"message": "not found: " + self.path}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": "not found: " + self.path}})
            return
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            self._send(400, {"error": {"message": "body is not JSON"}})
            return
        with LOCK:
            with open(RECORD, "a") as f:
                f.write(json.dumps({"path": self.path, "body": req}) + "\n")
        model = req.get("model", "gpt-4o-mini")
        created = int(time.time())
        prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in req.get("messages", []))
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": 16, "total_tokens": prompt_tokens + 16}
        cid = "chatcmpl-mock"
        reply = reply_to(req)
        if req.get("stream"):
            def chunk(delta, finish=None, with_usage=False):
                c = {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if not with_usage else [],
                }
                if with_usage:
                    c["usage"] = usage
                return b"data: " + json.dumps(c).encode() + b"\n\n"

            body = chunk({"role": "assistant", "content": ""}) + chunk({"content": reply}) + chunk({}, "stop")
            if (req.get("stream_options") or {}).get("include_usage"):
                body += chunk({}, with_usage=True)
            body += b"data: [DONE]\n\n"
            self._send(200, body, "text/event-stream")
            return
        self._send(
            200,
            {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": usage,
            },
        )


if __name__ == "__main__":
    port = int(sys.argv[1])
    RECORD = sys.argv[2]
    ECHO = "--echo" in sys.argv[3:]
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print("listening", server.server_address[1], flush=True)
    # Exit when the test closes our stdin (or dies), so no server outlives its test.
    threading.Thread(target=lambda: (sys.stdin.read(), server.shutdown()), daemon=True).start()
    server.serve_forever()
