"""The MCP benchmark's peer: the official Python MCP client SDK (what Agno's MCPTools runs on)
against the same reference server, the same calls.

usage: python mcp_client.py stdio NODE SCRIPT CALLS    (server-everything's dist/index.js)
       python mcp_client.py http URL CALLS
Measures the cold start (spawn or connect, initialize, tools listed) and CALLS sequential
calls of `echo`, and prints {"cold": seconds, "tools": n, "times": [seconds]}.
"""
import asyncio
import json
import sys
import time

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
try:
    from mcp.client.streamable_http import streamable_http_client
except ImportError:  # mcp < 1.25
    from mcp.client.streamable_http import streamablehttp_client as streamable_http_client


async def measure(session, t0, calls):
    await session.initialize()
    tools = await session.list_tools()
    cold = time.perf_counter() - t0
    times = []
    for i in range(calls):
        s = time.perf_counter()
        r = await session.call_tool("echo", {"message": f"hi {i}"})
        assert not getattr(r, "is_error", getattr(r, "isError", False))
        times.append(time.perf_counter() - s)
    return {"cold": cold, "tools": len(tools.tools), "times": times}


async def main():
    kind = sys.argv[1]
    t0 = time.perf_counter()
    if kind == "stdio":
        node, script, calls = sys.argv[2], sys.argv[3], int(sys.argv[4])
        params = StdioServerParameters(command=node, args=[script, "stdio"])
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                out = await measure(session, t0, calls)
    else:
        url, calls = sys.argv[2], int(sys.argv[3])
        async with streamable_http_client(url) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                out = await measure(session, t0, calls)
    print(json.dumps(out))


asyncio.run(main())
