#!/usr/bin/env python3
"""How fast the web console's pages answer with a big workspace (python3 stdlib only): one
modelgate node on an embedded store, filled through the API with 10,000 models and 1,000 API
keys, then every request a console page makes, sent as the page sends it (the session cookie,
`Blaxel-Version: 2026-04-28`), timed from outside: the median, 95th percentile and largest of
each, and of every page of the models list walked by cursor from first to last.

    bench/console.py [BIN] [--models 10000] [--keys 1000] [--repeat 20]

BIN defaults to target/dist/modelgate (`cargo build --profile dist`). Prints one line per request.
"""
import argparse
import concurrent.futures
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ADMIN_KEY = "mgk_console_bench_admin_key_0001"
PAGED = "2026-04-28"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url, method="GET", body=None, headers=None):
    """One request; returns (status, body bytes, headers, milliseconds)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            payload = response.read()
            return response.status, payload, response.headers, (time.perf_counter() - started) * 1000
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers, (time.perf_counter() - started) * 1000


def answers(url):
    try:
        return request(url)[0] == 200
    except OSError:
        return False


def fill(api, count, make, threads=8):
    def one(i):
        status, payload, _, _ = request(f"{api}{make(i)[0]}", "POST", make(i)[1], {"Authorization": f"Bearer {ADMIN_KEY}"})
        if status != 200:
            sys.exit(f"filling failed at {i}: {status} {payload[:200]!r}")
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(count)))
    return time.time() - started


def summary(name, times, size):
    times = sorted(times)
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(f"{name:<52} median {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms   max {times[-1]:7.1f} ms"
          f"   {size / 1024:8.1f} KiB   n={len(times)}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bin", nargs="?", default="target/dist/modelgate")
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    data = tempfile.mkdtemp(prefix="modelgate-console-bench.")
    api_port, run_port = free_port(), free_port()
    root = f"http://127.0.0.1:{api_port}"
    env = dict(os.environ, MODELGATE_BOOTSTRAP_API_KEY=ADMIN_KEY, MODELGATE_LOG_FORMAT="text", RUST_LOG="warn")
    node = subprocess.Popen([args.bin, "serve", "--api-addr", f"127.0.0.1:{api_port}", "--run-addr",
                             f"127.0.0.1:{run_port}", "--data-dir", data], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while not answers(f"{root}/v0/health"):
            if time.time() > deadline:
                sys.exit("the node never answered")
            time.sleep(0.1)
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        connection = {"metadata": {"name": "bench"}, "spec": {"integration": "openai",
                      "config": {"url": "http://127.0.0.1:9"}, "secret": {"apiKey": "sk-bench"}}}
        assert request(f"{root}/v0/integrations/connections", "POST", connection, admin)[0] == 200
        took = fill(f"{root}/v0", args.models, lambda i: ("/models", {
            "metadata": {"name": f"model-{i:05d}", "displayName": f"Model {i}", "labels": {"team": f"t{i % 20}"}},
            "spec": {"integrationConnections": ["bench"], "runtime": {"type": "openai", "model": "gpt-4o-mini"}}}))
        print(f"created {args.models} models through the API in {took:.1f} s")
        took = fill(f"{root}/v0", args.keys, lambda i: ("/users/me/api_keys", {"name": f"key-{i:04d}", "scopes": ["models:invoke"]}))
        print(f"created {args.keys} API keys through the API in {took:.1f} s")

        status, payload, headers, _ = request(f"{root}/console/api/session", "POST", {"apiKey": ADMIN_KEY})
        assert status == 200, payload
        cookie = headers["Set-Cookie"].split(";")[0]
        page = {"Cookie": cookie, "Blaxel-Version": PAGED, "Accept": "application/json"}
        _, html, _, _ = request(f"{root}/")
        script = html.decode().split('src="')[1].split('"')[0]

        probes = [
            ("GET / (the page)", "/"),
            ("GET main.js", script),
            ("GET session", "/console/api/session"),
            ("models: first page (50)", "/v0/models?limit=50"),
            ("models: last page (anchor=end)", "/v0/models?limit=50&anchor=end"),
            ("models: sorted by name, first page", "/v0/models?limit=50&sort=name:asc"),
            ("models: search q=model-09 (first page)", "/v0/models?limit=50&q=model-09"),
            ("models: search q=t7 (labels, first page)", "/v0/models?limit=50&q=t7"),
            ("models: 20 for the playground's suggestions", "/v0/models?limit=20&q=model-04"),
            ("connections (whole list)", "/v0/integrations/connections?limit=50"),
            ("policies: first page", "/v0/policies?limit=50"),
            (f"keys: all {args.keys} (the API answers them whole)", "/v0/users/me/api_keys"),
            ("service accounts", "/v0/service_accounts"),
            ("workspaces", "/v0/workspaces"),
            ("overview: usage by model (24 h)", "/v0/usage?groupBy=model&interval=1h"),
            ("overview: usage by key (24 h)", "/v0/usage?groupBy=key&interval=1h"),
        ]
        print(f"\nper request, {args.repeat} times each, with {args.models} models and {args.keys} keys:")
        for name, path in probes:
            times, size = [], 0
            for _ in range(args.repeat):
                status, payload, _, ms = request(f"{root}{path}", headers=page)
                assert status == 200, (path, status, payload[:200])
                times.append(ms)
                size = len(payload)
            summary(name, times, size)

        times, cursor, pages = [], None, 0
        while True:
            path = "/v0/models?limit=50" + (f"&cursor={cursor}" if cursor else "")
            status, payload, _, ms = request(f"{root}{path}", headers=page)
            assert status == 200, payload[:200]
            times.append(ms)
            pages += 1
            meta = json.loads(payload)["meta"]
            if not meta["hasMore"]:
                break
            cursor = meta["nextCursor"]
        summary(f"models: every page by cursor ({pages} pages of 50)", times, len(payload))
    finally:
        node.terminate()
        node.wait(timeout=30)
        subprocess.run(["rm", "-rf", data], check=False)


if __name__ == "__main__":
    main()
