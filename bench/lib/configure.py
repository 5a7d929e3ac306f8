#!/usr/bin/env python3
"""Configures a fresh modelgate through its control plane, as a user would, for the benchmarks:
connections to the mock upstream, a maxToken policy, the measured models `gpt` (OpenAI) and
`claude` (Anthropic), N filler models, K filler keys, and a models:invoke-only client key, which
it prints. One keep-alive connection, so 100,000 models take minutes, not hours.

    configure.py API_URL ADMIN_KEY MOCK_URL UPSTREAM_KEY --models N --keys K
"""
import argparse
import http.client
import json
import sys
import time
import urllib.parse


def main():
    parser = argparse.ArgumentParser()
    for name in ("api", "admin_key", "mock_url", "upstream_key"):
        parser.add_argument(name)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--keys", type=int, default=100)
    args = parser.parse_args()
    url = urllib.parse.urlparse(args.api)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    headers = {"Authorization": f"Bearer {args.admin_key}", "Content-Type": "application/json"}

    def post(path, body):
        connection.request("POST", f"{url.path}{path}", json.dumps(body), headers)
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200:
            sys.exit(f"POST {path}: {response.status} {answer[:300]!r}")
        return json.loads(answer)

    def connection_to_mock(name, integration):
        return {"metadata": {"name": name}, "spec": {"integration": integration,
                "config": {"url": args.mock_url}, "secret": {"apiKey": args.upstream_key}}}

    def model(name, connection_name, runtime, model_name, policies=()):
        return {"metadata": {"name": name}, "spec": {"integrationConnections": [connection_name],
                "policies": list(policies), "runtime": {"type": runtime, "model": model_name}}}

    started = time.time()
    post("/integrations/connections", connection_to_mock("mock-openai", "openai"))
    post("/integrations/connections", connection_to_mock("mock-anthropic", "anthropic"))
    post("/policies", {"metadata": {"name": "bench-tpm"}, "spec": {"type": "maxToken",
         "maxTokens": {"granularity": "minute", "step": 1, "total": 10**12}}})
    post("/models", model("gpt", "mock-openai", "openai", "gpt-4o-mini", ["bench-tpm"]))
    post("/models", model("claude", "mock-anthropic", "anthropic", "claude-3-5-haiku-20241022", ["bench-tpm"]))
    for i in range(args.models):
        post("/models", model(f"filler-{i:06d}", "mock-openai", "openai", f"m-{i}"))
    account = post("/service_accounts", {"name": "bench-client"})["client_id"]
    for _ in range(args.keys):
        post(f"/service_accounts/{account}/api_keys", {"scopes": ["models:invoke"]})
    client_key = post(f"/service_accounts/{account}/api_keys", {"name": "bench", "scopes": ["models:invoke"]})["apiKey"]
    print(f"configured {args.models + 2} models and {args.keys + 1} keys in {time.time() - started:.1f} s",
          file=sys.stderr)
    print(client_key)


if __name__ == "__main__":
    main()
