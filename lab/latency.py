"""A TCP relay that adds a round-trip delay, in front of a lab host's SSH port.

`tc qdisc ... netem` inside the lab hosts is the natural way to make their link slow, but
some kernels (this machine's) have no sch_netem. The relay delays every chunk by half the
round trip in each direction, in order and pipelined (what a long link does), so pyinfra
pointed at it (``--data ssh_port=<relay port>``) sees a WAN host:

    with Relay(22201, rtt_ms=50) as relay:
        pyinfra -y --limit lab-1 --data ssh_port={relay.port} inventory/lab.py deploy.py
"""

from __future__ import annotations

import asyncio
import threading
import time


class Relay:
    """Listen on 127.0.0.1:<free port>, forward to 127.0.0.1:``target_port`` with ``rtt_ms``
    more round trip. A context manager; the relay runs in a thread of this process."""

    def __init__(self, target_port: int, rtt_ms: float, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.half = rtt_ms / 2000.0
        self.port = 0
        self._writers: set = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue = asyncio.Queue()

        async def send():
            while True:
                due, chunk = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if chunk is None:
                    break
                writer.write(chunk)
                await writer.drain()
            writer.close()

        sender = asyncio.ensure_future(send())
        try:
            while True:
                chunk = await reader.read(65536)
                queue.put_nowait((time.monotonic() + self.half, chunk or None))
                if not chunk:
                    break
        except ConnectionError:
            queue.put_nowait((time.monotonic(), None))
        await sender

    async def _handle(self, client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        self._writers |= {client_writer, server_writer}
        try:
            await asyncio.gather(self._pipe(client_reader, server_writer),
                                 self._pipe(server_reader, client_writer), return_exceptions=True)
        except asyncio.CancelledError:  # the relay is closing
            pass

    def _run(self):
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._server = server
        self._ready.set()
        self._loop.run_forever()
        server.close()
        # Both ends of every connection are closed now, as a dying client's kernel would:
        # the host's sshd must see its client gone (the deploy lock ends with it).
        for writer in self._writers:
            writer.transport.abort()
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self._loop.close()

    def __enter__(self) -> "Relay":
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
