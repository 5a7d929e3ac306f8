#!/usr/bin/env python3
"""relay.py LISTEN_PORT POSTGRES_URL: a TCP relay from 127.0.0.1:LISTEN_PORT to the URL's host and
port, with a blackhole switch: SIGUSR1 lets nothing through (connections stay open and silent, new
ones are held, as when packets are dropped), SIGUSR2 restores (what was held is delivered)."""
import asyncio, signal, sys, urllib.parse

listen_port = int(sys.argv[1])
_target = urllib.parse.urlsplit(sys.argv[2])
target_host, target_port = _target.hostname or "127.0.0.1", _target.port or 5432
open_ = None


async def pump(reader, writer):
    try:
        while True:
            data = await reader.read(16384)
            if not data:
                break
            await open_.wait()
            writer.write(data)
            await writer.drain()
    except Exception:
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def handle(client_reader, client_writer):
    await open_.wait()
    server_reader, server_writer = await asyncio.open_connection(target_host, target_port)
    await asyncio.gather(pump(client_reader, server_writer), pump(server_reader, client_writer))


async def main():
    global open_
    open_ = asyncio.Event()
    open_.set()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, open_.clear)
    loop.add_signal_handler(signal.SIGUSR2, open_.set)
    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    async with server:
        await server.serve_forever()


asyncio.run(main())
