#!/usr/bin/env python3
"""What one modelgate binary does under hostile clients and at shutdown, measured from outside as
the hardening issue's campaign did (python3 stdlib only; the binary's own mock provider upstream):

  silent body   headers declaring 1,000 body bytes, then nothing: the answer and when it came
  trickle       50 connections sending their body a byte a second: how many were answered or
                closed, and when
  big bodies    40 concurrent 30 MiB chat bodies with a valid key: statuses and the process's
                peak RSS (VmHWM) over the run
  guessing      31 wrong keys from one address, then the admin key from the same address
  drain         a stream of 60 events 2 s apart open at SIGTERM: seconds until the process exits

    bench/hardening.py BIN [--skip-big]    (prints one line per probe)
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ADMIN_KEY = "mgk_hardening_probe_admin_key_0001"
UPSTREAM_KEY = "sk-mock-upstream-key"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            time.sleep(0.1)
    sys.exit(f"{url} never answered")


def call(url, body=None, key=ADMIN_KEY, headers=None):
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                     method="GET" if body is None else "POST")
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def raw_request(port, head, length, first=b""):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall((f"{head}\r\nHost: x\r\nAuthorization: Bearer {ADMIN_KEY}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {length}\r\n\r\n").encode() + first)
    return s


def read_status(s, seconds):
    """The answer's status line (or 'closed'), and after how long."""
    started = time.time()
    s.settimeout(seconds)
    try:
        data = s.recv(4096)
        return (data.split(b"\r\n", 1)[0].decode(errors="replace") if data else "closed"), time.time() - started
    except socket.timeout:
        return "no answer", time.time() - started
    except OSError as error:
        return f"error {error}", time.time() - started


def rss_peak(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--skip-big", action="store_true")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="hardening.")
    api, run, mock = free_port(), free_port(), free_port()
    env = dict(os.environ, MODELGATE_API_ADDR=f"127.0.0.1:{api}", MODELGATE_RUN_ADDR=f"127.0.0.1:{run}",
               MODELGATE_DATA_DIR=work, MODELGATE_BOOTSTRAP_API_KEY=ADMIN_KEY, MODELGATE_LOG="error",
               MODELGATE_MOCK_ADDR=f"127.0.0.1:{mock}")
    upstream = subprocess.Popen([args.binary, "mock-provider"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    node = subprocess.Popen([args.binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{api}/v0/health")
        base = f"http://127.0.0.1:{api}/v0"
        status, answer = call(f"{base}/integrations/connections", {"metadata": {"name": "mock"}, "spec": {
            "integration": "openai", "config": {"url": f"http://127.0.0.1:{mock}"}, "secret": {"apiKey": UPSTREAM_KEY}}})
        assert status == 200, answer
        status, answer = call(f"{base}/models", {"metadata": {"name": "gpt"}, "spec": {
            "integrationConnections": ["mock"], "runtime": {"type": "openai", "model": "gpt-4o-mini"}}})
        assert status == 200, answer
        chat_head = "POST /default/models/gpt/v1/chat/completions HTTP/1.1"

        s = raw_request(run, chat_head, 1000)
        line, after = read_status(s, 120)
        print(f"silent body: '{line}' after {after:.1f} s")
        s.close()

        trickling = [raw_request(run, chat_head, 1000, b"{") for _ in range(50)]
        answered = {}
        started = time.time()
        while time.time() - started < 90 and len(answered) < len(trickling):
            for index, s in enumerate(trickling):
                if index in answered:
                    continue
                s.settimeout(0.001)
                try:
                    data = s.recv(4096)
                    answered[index] = (data.split(b"\r\n", 1)[0].decode() if data else "closed", time.time() - started)
                    continue
                except (socket.timeout, BlockingIOError):
                    pass
                except OSError:
                    answered[index] = ("reset", time.time() - started)
                    continue
                try:
                    s.sendall(b" ")
                except OSError:
                    answered[index] = ("reset", time.time() - started)
            time.sleep(1)
        times = sorted(t for _, t in answered.values())
        kinds = sorted({kind for kind, _ in answered.values()})
        print(f"trickle: {len(answered)} of 50 answered or closed within {time.time() - started:.0f} s"
              + (f" (first at {times[0]:.1f} s, last at {times[-1]:.1f} s: {', '.join(kinds)})" if times else ""))
        for s in trickling:
            s.close()

        if not args.skip_big:
            before = rss_peak(node.pid)
            content = "x" * (30 * 1024 * 1024 - 100)
            body = json.dumps({"model": "m", "messages": [{"role": "user", "content": content}]}).encode()
            statuses = []

            def send_big():
                s = raw_request(run, chat_head, len(body))
                try:
                    s.sendall(body)
                    statuses.append(read_status(s, 120)[0])
                except OSError:
                    statuses.append(read_status(s, 5)[0])
                s.close()

            threads = [threading.Thread(target=send_big) for _ in range(40)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            counts = {}
            for line in statuses:
                counts[line] = counts.get(line, 0) + 1
            print(f"big bodies: 40 x 30 MiB: {counts}; peak RSS {before:.0f} -> {rss_peak(node.pid):.0f} MiB")

        guesses = [threading.Thread(target=call, args=(f"{base}/models", None, "mgk_wrong_guess")) for _ in range(31)]
        for thread in guesses:
            thread.start()
        for thread in guesses:
            thread.join()
        status, _ = call(f"{base}/models")
        print(f"guessing: after 31 wrong keys from this address, the admin key gets {status}")

        def long_stream():
            try:
                call(f"http://127.0.0.1:{run}/default/models/gpt/v1/chat/completions",
                     {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
                     ADMIN_KEY, {"x-mock-chunk-delay-ms": "2000", "x-mock-chunks": "60"})
            except Exception:  # the node ends the stream at its drain timeout
                pass

        stream = threading.Thread(target=long_stream, daemon=True)
        stream.start()
        time.sleep(3)
        started = time.time()
        node.send_signal(signal.SIGTERM)
        try:
            node.wait(timeout=150)
            print(f"drain: exited {time.time() - started:.1f} s after SIGTERM with a 120 s stream open")
        except subprocess.TimeoutExpired:
            print("drain: still running 150 s after SIGTERM")
    finally:
        for process in (node, upstream):
            if process.poll() is None:
                process.kill()


if __name__ == "__main__":
    main()
