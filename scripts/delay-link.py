#!/usr/bin/env python3
"""A one-way delay on a TCP path, for scripts/bench-hosts.sh on kernels without sch_netem.

Listens on LISTEN (host:port) and, for every connection, opens one to TARGET (host:port); each byte
is forwarded in both directions DELAY seconds after it was read, so a message sees DELAY one way and
2 x DELAY of round trip on top of the link's own. Rate is not limited here: tc's tbf does that on the
link itself. Reads up to 256 KiB at a time; a reader never waits for its writer, so the delay holds
for a stream at any rate the link allows (the queue between them is unbounded, like a long wire).

Usage: delay-link.py LISTEN TARGET DELAY_SECONDS   (e.g. 127.0.0.1:5701 10.79.0.1:5701 0.002)
It prints "ready" once listening.
"""
import collections, socket, sys, threading, time

CHUNK = 256 * 1024


def pump(source: socket.socket, sink: socket.socket, delay: float) -> None:
    """Forward source to sink, each chunk `delay` seconds after it arrived (monotonic clock)."""
    queue = collections.deque()
    ready = threading.Condition()
    done = []

    def read() -> None:
        try:
            while True:
                chunk = source.recv(CHUNK)
                with ready:
                    queue.append((time.monotonic() + delay, chunk))
                    ready.notify()
                if not chunk:
                    return
        except OSError:
            with ready:
                queue.append((time.monotonic(), b""))
                ready.notify()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while True:
        with ready:
            while not queue:
                ready.wait()
            due, chunk = queue.popleft()
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)  # clock_nanosleep: tens of microseconds of slack, not a millisecond
        if not chunk:
            break
        try:
            sink.sendall(chunk)
        except OSError:
            break
    for s in (sink, source):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(listen: str, target: str, delay: float) -> None:
    host, port = listen.rsplit(":", 1)
    server = socket.create_server((host, int(port)), reuse_port=False)
    print("ready", flush=True)
    th, tp = target.rsplit(":", 1)
    while True:
        client, _ = server.accept()
        try:
            upstream = socket.create_connection((th, int(tp)))
        except OSError as error:
            print(f"delay-link: cannot reach {target}: {error}", file=sys.stderr, flush=True)
            client.close()
            continue
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pump, args=(a, b, delay), daemon=True).start()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    serve(sys.argv[1], sys.argv[2], float(sys.argv[3]))
