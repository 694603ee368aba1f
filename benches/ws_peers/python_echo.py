#!/usr/bin/env python3
"""A comparison peer for benches/ws_load.sh: a WebSocket echo server on the
`websockets` package (asyncio), one process, one thread. Every message on any
path is sent back as it came (text as text, binary as binary).

    python3 benches/ws_peers/python_echo.py --port 19002
"""

import argparse
import asyncio

from websockets.asyncio.server import serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main(host: str, port: int) -> None:
    # Compression off, like the other servers; no size limit beyond 1 MiB.
    async with serve(echo, host, port, compression=None, max_size=1 << 20, ping_interval=None) as server:
        print(f"listening on ws://{host}:{port}/", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=19002)
    args = parser.parse_args()
    try:
        asyncio.run(main(args.host, args.port))
    except KeyboardInterrupt:
        pass
