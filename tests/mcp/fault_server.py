#!/usr/bin/env python3
"""A small MCP server over stdio (newline-delimited JSON-RPC, no dependencies) that misbehaves
on purpose, for agno-run's MCP fault tests.

Start-up faults, by flag:
  --hang-init       reads `initialize` and never answers it
  --exit-at-start   exits (code 3) before reading anything
  --ignore-sigterm  ignores SIGTERM, and starts a grandchild that ignores it too
  --pid-file PATH   writes "<own pid> <grandchild pid or 0>" to PATH once started
  --marker TEXT     `echo` answers with TEXT prefixed (tells two servers apart)
  --extra-tools N:BYTES  also lists N tools `t0`.. with descriptions of BYTES bytes
  --leak-env NAME   writes the value of $NAME on stderr at start, and puts it in `echo`'s
                    description and in `leak`'s result (a careless server leaking a secret)

Tools, each a fault when called:
  echo {text}       answers the text (the healthy case)
  exit_now          exits (code 4) in the middle of the call, never answering
  huge {mib}        answers a text result of `mib` MiB (default 20)
  hang              never answers
  garbage           writes a line that is not JSON, then answers the call
  fail              answers with isError: true
  sleep {seconds, flag}  creates the file `flag`, then answers after `seconds`
  flood {n}         sends n `ping` requests of its own (not reading the answers), then answers
  deep {depth}      answers a result nested `depth` levels deep
"""
import json
import os
import signal
import subprocess
import sys
import time

args = sys.argv[1:]


def flag(name):
    return name in args


def value(name, default=None):
    if name in args:
        i = args.index(name)
        if i + 1 < len(args):
            return args[i + 1]
    return default


marker = value("--marker", "")
leak = os.environ.get(value("--leak-env", ""), "") if value("--leak-env") else ""
if leak:
    sys.stderr.write(f"fault server: started with token {leak}\n")
    # The secret across byte 2048 of a long line.
    sys.stderr.write("y" * 2040 + leak + " and the rest of the line\n")
    sys.stderr.flush()

if flag("--exit-at-start"):
    sys.stderr.write("fault server: exiting at start as asked\n")
    sys.exit(3)

grandchild = 0
if flag("--ignore-sigterm"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    code = "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(3600)"
    grandchild = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL).pid

pid_file = value("--pid-file")
if pid_file:
    with open(pid_file + ".tmp", "w") as f:
        f.write(f"{os.getpid()} {grandchild}")
    os.replace(pid_file + ".tmp", pid_file)

out = sys.stdout


def send(msg):
    out.write(json.dumps(msg) + "\n")
    out.flush()


def text(s, is_error=False):
    return {"content": [{"type": "text", "text": s}], "isError": is_error}


TOOLS = [
    {"name": "echo", "description": "Echoes the text back." + (f" (key {leak})" if leak else ""),
     "inputSchema": {"type": "object", "properties": {"text": {"type": "string", "description": f"key {leak}"}},
                     "required": ["text"]}},
    {"name": "exit_now", "description": "Exits in the middle of the call.", "inputSchema": {"type": "object"}},
    {"name": "huge", "description": "Answers a very large text.",
     "inputSchema": {"type": "object", "properties": {"mib": {"type": "number"}}}},
    {"name": "hang", "description": "Never answers.", "inputSchema": {"type": "object"}},
    {"name": "garbage", "description": "Writes a line that is not JSON first.", "inputSchema": {"type": "object"}},
    {"name": "fail", "description": "Answers with an error result.", "inputSchema": {"type": "object"}},
    {"name": "flood", "description": "Floods the client with pings.",
     "inputSchema": {"type": "object", "properties": {"n": {"type": "number"}}}},
    {"name": "deep", "description": "Answers a deeply nested result.",
     "inputSchema": {"type": "object", "properties": {"depth": {"type": "number"}}}},
    {"name": "leak", "description": "Answers the leaked value.", "inputSchema": {"type": "object"}},
    {"name": "sleep", "description": "Answers after a while.",
     "inputSchema": {"type": "object", "properties": {"seconds": {"type": "number"}, "flag": {"type": "string"}}}},
]


extra = value("--extra-tools")
if extra:
    n, size = (int(x) for x in extra.split(":"))
    TOOLS += [{"name": f"t{i}", "description": "d" * size, "inputSchema": {"type": "object"}} for i in range(n)]


def call(name, arguments):
    if name == "echo":
        return text(marker + str(arguments.get("text", "")))
    if name == "exit_now":
        sys.stderr.write("fault server: exiting mid-call as asked\n")
        sys.stderr.flush()
        os._exit(4)
    if name == "huge":
        mib = float(arguments.get("mib", 20))
        return text("x" * int(mib * 1024 * 1024))
    if name == "hang":
        return None
    if name == "garbage":
        out.write("this is not JSON {{{\n")
        out.flush()
        return text("after garbage")
    if name == "sleep":
        if arguments.get("flag"):
            open(arguments["flag"], "w").close()
        time.sleep(float(arguments.get("seconds", 1)))
        return text(marker + "slept")
    if name == "flood":
        n = int(arguments.get("n", 1000))
        chunk = "".join(json.dumps({"jsonrpc": "2.0", "id": f"p{i}", "method": "ping"}) + "\n" for i in range(n))
        out.write(chunk)
        out.flush()
        return text(f"sent {n} pings")
    if name == "deep":
        d = int(arguments.get("depth", 200))
        return {"content": [{"type": "text", "text": "deep"}], "structuredContent": json.loads('{"a":' * d + "1" + "}" * d)}
    if name == "leak":
        return text(f"the token is {leak}")
    if name == "fail":
        return text("the fault server failed on purpose", is_error=True)
    return None


for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    method = msg.get("method")
    mid = msg.get("id")
    if method == "initialize":
        if flag("--hang-init"):
            continue
        version = (msg.get("params") or {}).get("protocolVersion", "2025-06-18")
        send({"jsonrpc": "2.0", "id": mid, "result": {
            "protocolVersion": version,
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "agno-run-fault-server", "version": "1"},
        }})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": mid, "result": {"tools": TOOLS}})
    elif method == "tools/call":
        params = msg.get("params") or {}
        result = call(params.get("name"), params.get("arguments") or {})
        if result is not None:
            send({"jsonrpc": "2.0", "id": mid, "result": result})
    elif method == "ping":
        send({"jsonrpc": "2.0", "id": mid, "result": {}})
    elif mid is not None:
        send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": f"no method {method}"}})

# stdin closed: the client is gone.
time.sleep(0 if not flag("--ignore-sigterm") else 3600)
