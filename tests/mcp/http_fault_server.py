#!/usr/bin/env python3
"""A small MCP server over streamable HTTP (stdlib only) that floods, for agno-run's MCP fault
tests. It listens on 127.0.0.1 on a free port and prints the port on its first line of stdout.

usage: python http_fault_server.py N
Its tool `flood` answers in an SSE stream: N `ping` requests of its own, then the result; `count`
says how many answers to its pings the client has POSTed back.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

N = int(sys.argv[1])
answers = [0]
TOOLS = [{"name": "flood", "description": "Floods the client with pings.", "inputSchema": {"type": "object"}},
         {"name": "count", "description": "How many ping answers came back.", "inputSchema": {"type": "object"}}]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def empty(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        self.empty(405)

    def do_DELETE(self):
        self.empty(200)

    def json(self, obj):
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Mcp-Session-Id", "s1")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            msg = json.loads(body)
        except ValueError:
            msg = {}
        method, mid = msg.get("method"), msg.get("id")
        if method is None:
            # A notification or an answer (to one of our pings).
            if "result" in msg or "error" in msg:
                answers[0] += 1
            return self.empty(202)
        if method == "initialize":
            version = (msg.get("params") or {}).get("protocolVersion", "2025-06-18")
            return self.json({"jsonrpc": "2.0", "id": mid, "result": {
                "protocolVersion": version, "capabilities": {"tools": {}},
                "serverInfo": {"name": "agno-run-http-fault-server", "version": "1"}}})
        if method == "tools/list":
            return self.json({"jsonrpc": "2.0", "id": mid, "result": {"tools": TOOLS}})
        if method == "tools/call" and (msg.get("params") or {}).get("name") == "count":
            return self.json({"jsonrpc": "2.0", "id": mid, "result": {
                "content": [{"type": "text", "text": str(answers[0])}]}})
        if method == "tools/call":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            for start in range(0, N, 5000):
                chunk = "".join(
                    'event: message\ndata: {"jsonrpc":"2.0","id":"p%d","method":"ping"}\n\n' % i
                    for i in range(start, min(N, start + 5000)))
                self.wfile.write(chunk.encode())
            result = {"jsonrpc": "2.0", "id": mid, "result": {
                "content": [{"type": "text", "text": f"sent {N} pings; {answers[0]} answered so far"}]}}
            self.wfile.write(f"event: message\ndata: {json.dumps(result)}\n\n".encode())
            self.wfile.flush()
            self.close_connection = True
            return
        return self.json({"jsonrpc": "2.0", "id": mid, "result": {}})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
