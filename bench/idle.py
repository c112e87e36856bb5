#!/usr/bin/env python3
"""bench/idle.py: holds N idle keep-alive TLS connections open to a server.

    bench/idle.py PORT N CA_FILE

Each connection makes its TLS handshake, asks GET /health/live once (so the
server has served a request on it, as on a client's pooled connection) and
then stays open, idle, until the script is ended (SIGTERM or SIGINT). The
connections come from 127.0.1.1, 127.0.1.2, ... (100 per source address),
so that the server's per-address limit (max_connections_per_ip, 128 by
default) does not refuse them: the whole loopback /8 reaches the server.
Prints "ready OPEN FAILED" once every connection has been tried, then holds.
"""
import asyncio
import signal
import ssl
import sys

PER_ADDRESS = 100
AT_ONCE = 32  # handshakes in flight at a time


async def one(port, ctx, i):
    src = "127.0.%d.%d" % (1 + i // PER_ADDRESS // 250, 1 + (i // PER_ADDRESS) % 250)
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost",
                                local_addr=(src, 0)), 60)
    writer.write(b"GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await asyncio.wait_for(reader.readexactly(length), 60)
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head[:40])
    return writer


async def main():
    port, n, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    ctx = ssl.create_default_context(cafile=ca)
    gate = asyncio.Semaphore(AT_ONCE)

    async def go(i):
        async with gate:
            return await one(port, ctx, i)

    results = await asyncio.gather(*(go(i) for i in range(n)), return_exceptions=True)
    open_ = [w for w in results if not isinstance(w, BaseException)]
    failed = [r for r in results if isinstance(r, BaseException)]
    print("ready", len(open_), len(failed), flush=True)
    if failed:
        print("first failure:", repr(failed[0]), file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for w in open_:
        w.close()


asyncio.run(main())
