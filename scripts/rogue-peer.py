#!/usr/bin/env python3
"""A hostile peer for scripts/soak.sh: connects to a live coordinator and misbehaves for a while.

  rogue-peer.py MODE ENDPOINT SERVER_PUB KEY_FILE SECONDS

Modes (KEY_FILE is a `keypoints keygen` .key file):
  stranger  a CURVE key the coordinator does not authorize: reconnects and sends garbage (refused by ZAP)
  garbage   an authorized key: mutated keypoints messages (dropped; the peer is muted)
  hellos    an authorized key: a hello every 20 ms (muted after 10 in a minute)
  slow      an authorized key: one hello, then never reads (removed as not reading or past the deadline)
Prints one line: what it sent.
"""
import json
import pathlib
import random
import re
import struct
import sys
import time
import zlib

import zmq

mode, endpoint, server_pub, key_file, seconds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
root = pathlib.Path(__file__).resolve().parent.parent
# The protocol version, from the one place it is defined.
version = int(re.search(r"wireProtocolVersion: UInt16 = (\d+)", (root / "Sources/Cluster/WireProtocol.swift").read_text()).group(1))


def key(path, name):
    for line in pathlib.Path(path).read_text().splitlines():
        if line.startswith(name):
            return line.split("=", 1)[1].strip().encode()
    raise SystemExit(f"{path}: no {name} line")


def message(kind, fields, bulk=()):
    header = b"KPTS" + struct.pack("<HBBQH", version, kind, 0, 0, len(bulk))
    for frame in bulk:
        header += struct.pack("<QI", len(frame), zlib.crc32(frame) & 0xFFFFFFFF)
    return [header + json.dumps(fields).encode()] + list(bulk)


def hello(name):
    return message(1, {"name": name, "host": "rogue", "threads": 1, "pid": 0})


def connect(name, secret_file):
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.ROUTING_ID, name.encode())
    s.setsockopt(zmq.RCVHWM, 1)
    s.curve_serverkey = key(server_pub, "public-key")
    s.curve_publickey = key(secret_file, "public-key")
    s.curve_secretkey = key(secret_file, "secret-key")
    s.connect(endpoint)
    return s


rng = random.Random(7)
deadline = time.time() + seconds
sent = 0
name = f"rogue-{mode}"
s = connect(name, key_file)
while time.time() < deadline:
    try:
        if mode == "stranger":
            s.send_multipart([bytes(rng.getrandbits(8) for _ in range(64))], zmq.NOBLOCK)
            time.sleep(0.2)
            s.close()
            s = connect(name, key_file)
        elif mode == "garbage":
            frames = hello(name) if rng.random() < 0.1 else message(6, {"microBatch": 0}, [b"\0" * 40])
            frames[0] = bytearray(frames[0])
            frames[0][rng.randrange(len(frames[0]))] ^= 0xFF
            s.send_multipart([bytes(f) for f in frames], zmq.NOBLOCK)
            time.sleep(0.05)
        elif mode == "hellos":
            s.send_multipart(hello(name), zmq.NOBLOCK)
            time.sleep(0.02)
        elif mode == "slow":
            if sent == 0:
                s.send_multipart(hello(name))
            else:
                time.sleep(0.5)
                continue
        sent += 1
    except zmq.Again:
        time.sleep(0.05)
print(f"rogue {mode}: sent {sent} message(s) in {seconds:.0f} s")
