#!/usr/bin/python3
"""Small helpers for run.sh that need sockets: free ports and four-letter words.

  zkutil.py free-ports N              N distinct free TCP ports on 127.0.0.1, one a line
  zkutil.py srvr HOST:PORT            "MODE ZXID" (decimal zxid), or "down 0"
  zkutil.py wait-leader TIMEOUT H:P,… wait until exactly one server says leader and the
                                      others follower; print the leader's index (0-based)
  zkutil.py wait-catchup TIMEOUT H:P H:P,…
                                      wait until the first server serves and its zxid
                                      reaches the highest zxid the others report now;
                                      print both zxids in hex
"""
import socket
import sys
import time


def free_ports(count):
    socks, ports = [], []
    try:
        while len(ports) < count:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def four_letter(hostport, word, timeout=2.0):
    host, port = hostport.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(word.encode())
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


def srvr(hostport):
    """(mode, zxid) or ("down", 0)."""
    try:
        text = four_letter(hostport, "srvr")
    except OSError:
        return "down", 0
    mode, zxid = "unknown", 0
    for line in text.splitlines():
        if line.startswith("Mode:"):
            mode = line.split(":", 1)[1].strip()
        elif line.startswith("Zxid:"):
            zxid = int(line.split(":", 1)[1].strip(), 0)
    if "not currently serving" in text:
        mode = "notserving"
    return mode, zxid


def wait_leader(timeout, servers):
    deadline = time.time() + timeout
    while time.time() < deadline:
        modes = [srvr(s)[0] for s in servers]
        if modes.count("leader") == 1 and modes.count("follower") == len(servers) - 1:
            return modes.index("leader")
        time.sleep(0.02)
    raise SystemExit("no leader within %ss: %s" % (timeout, modes))


def wait_catchup(timeout, node, others):
    goal = max(srvr(s)[1] for s in others)
    deadline = time.time() + timeout
    state = ("down", 0)
    while time.time() < deadline:
        state = srvr(node)
        if state[0] in ("leader", "follower") and state[1] >= goal:
            return "%#x >= %#x" % (state[1], goal)
        time.sleep(0.1)
    raise SystemExit("%s did not catch up within %ss: %s %#x < %#x"
                     % (node, timeout, state[0], state[1], goal))


def main(argv):
    cmd = argv[1]
    if cmd == "free-ports":
        print("\n".join(str(p) for p in free_ports(int(argv[2]))))
    elif cmd == "srvr":
        mode, zxid = srvr(argv[2])
        print(mode, zxid)
    elif cmd == "wait-leader":
        print(wait_leader(float(argv[2]), argv[3].split(",")))
    elif cmd == "wait-catchup":
        print(wait_catchup(float(argv[2]), argv[3], argv[4].split(",")))
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
