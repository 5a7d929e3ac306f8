#!/usr/bin/env python3
"""End-to-end check that the unmodified official OpenAI and Anthropic Python SDKs, and the Vercel AI
SDK's default OpenAI provider (Node, tests/sdk/vercel/test.mjs), work through modelgate's inference
plane with a modelgate API key, against modelgate's own mock provider.

Plain script (no pytest): it starts `modelgate mock-provider` and `modelgate serve` on free
loopback ports, configures connections and models through the control plane (stdlib urllib),
runs one small function per check, always stops both processes, and ends with the line
`N passed, M failed` (exit status 1 on any failure).

The Vercel AI SDK check needs node and tests/sdk/vercel/node_modules (run.sh installs them); it
is reported as skipped when SDK_VERCEL_SKIPPED gives a reason, which run.sh sets outside CI only.

Settings: MODELGATE_BIN (default target/debug/modelgate under the repository root),
SDK_TEST_VERBOSE=1 to print the server logs at the end even when everything passed.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
import warnings

import anthropic
import openai

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADMIN_KEY = "mgk_sdk_test_admin_key_0001"
WRONG_KEY = "mgk_sdk_test_wrong_key_9999"
UPSTREAM_KEY = "sk-mock-upstream-key"
WORKSPACE = "default"
GPT = "my-gpt"
CLAUDE = "my-claude"
GEMINI = "my-gemini"
COHERE = "my-command"
GPT_MODEL = "gpt-4o-mini"
CLAUDE_MODEL = "claude-sonnet-4-20250514"
GREETING = "Hello from the mock"
STARTUP_TIMEOUT = 60.0
SDK_TIMEOUT = 30.0
USAGE_WAIT = 8.0
VERCEL_DIR = os.path.join(REPO_ROOT, "tests", "sdk", "vercel")
VERCEL_TIMEOUT = 300.0

# Older anthropic SDKs warn that the (mock) model name is deprecated; irrelevant here.
warnings.filterwarnings("ignore", message=r"The model .* is deprecated", category=DeprecationWarning)

# What the checks observed, for the usage check at the end.
observed = {"gpt": [], "claude": [], "gemini": [], "cohere": []}


class CheckFailed(Exception):
    pass


class CheckSkipped(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


# --- processes ---------------------------------------------------------------------------------


def free_ports(count):
    """Distinct free loopback ports (all sockets held open together so none repeats)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Proc:
    def __init__(self, name, argv, env, log_dir):
        self.name = name
        self.log_path = os.path.join(log_dir, f"{name}.log")
        self.log = open(self.log_path, "wb")
        # A new session: the process leads its own group, so stop() reaches any children too.
        self.popen = subprocess.Popen(
            argv, env=env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def alive(self):
        return self.popen.poll() is None

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.alive():
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait(timeout=10)
        self.log.close()


def wait_for_port(proc, port):
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.output()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not listen on port {port} within {STARTUP_TIMEOUT} s")


def wait_for_health(proc, api_url):
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last = None
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.output()}")
        try:
            with urllib.request.urlopen(f"{api_url}/v0/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError) as error:
            last = error
        time.sleep(0.2)
    raise RuntimeError(f"{proc.name} not healthy within {STARTUP_TIMEOUT} s (last error: {last})")


# --- control plane (stdlib only) ---------------------------------------------------------------


def control(api_url, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{api_url}/v0{path}", data=data, method=method)
    request.add_header("Authorization", f"Bearer {ADMIN_KEY}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def configure(api_url, mock_url):
    for name, integration in (
        ("mock-openai", "openai"), ("mock-anthropic", "anthropic"), ("mock-gemini", "gemini"), ("mock-cohere", "cohere"),
    ):
        status, body = control(api_url, "POST", "/integrations/connections", {
            "metadata": {"name": name},
            "spec": {"integration": integration, "config": {"url": mock_url}, "secret": {"apiKey": UPSTREAM_KEY}},
        })
        if status not in (200, 201):
            raise RuntimeError(f"creating connection {name}: {status} {body}")
    for name, connection, runtime, model in (
        (GPT, "mock-openai", "openai", GPT_MODEL),
        (CLAUDE, "mock-anthropic", "anthropic", CLAUDE_MODEL),
        (GEMINI, "mock-gemini", "gemini", "gemini-2.0-flash"),
        (COHERE, "mock-cohere", "cohere", "command-r-plus"),
    ):
        status, body = control(api_url, "POST", "/models", {
            "metadata": {"name": name},
            "spec": {"integrationConnections": [connection], "runtime": {"type": runtime, "model": model}},
        })
        if status not in (200, 201):
            raise RuntimeError(f"creating model {name}: {status} {body}")
        state = body.get("status") if isinstance(body, dict) else None
        if state != "DEPLOYED":
            raise RuntimeError(f"model {name} is {state!r}, not DEPLOYED: {body}")


# --- checks ------------------------------------------------------------------------------------

MESSAGES = [{"role": "user", "content": "Say hello to the SDK test"}]


def openai_client(run_url, model=GPT, key=ADMIN_KEY):
    return openai.OpenAI(
        base_url=f"{run_url}/{WORKSPACE}/models/{model}/v1", api_key=key, timeout=SDK_TIMEOUT, max_retries=0,
    )


def anthropic_client(run_url, model=CLAUDE, key=ADMIN_KEY):
    return anthropic.Anthropic(
        base_url=f"{run_url}/{WORKSPACE}/models/{model}", api_key=key, timeout=SDK_TIMEOUT, max_retries=0,
    )


def check_openai_chat(ctx):
    completion = openai_client(ctx["run_url"]).chat.completions.create(model=GPT_MODEL, messages=MESSAGES)
    expect(len(completion.choices) == 1, f"expected 1 choice, got {completion.choices!r}")
    text = completion.choices[0].message.content or ""
    expect(text.startswith(GREETING), f"content {text!r} does not start with {GREETING!r}")
    expect(completion.choices[0].finish_reason == "stop", f"finish_reason {completion.choices[0].finish_reason!r}")
    usage = completion.usage
    expect(usage is not None, "no usage in the completion")
    expect(usage.prompt_tokens > 0 and usage.completion_tokens > 0, f"usage {usage!r}")
    expect(usage.total_tokens == usage.prompt_tokens + usage.completion_tokens, f"usage total {usage!r}")
    ctx["openai_text"] = text
    observed["gpt"].append((usage.prompt_tokens, usage.completion_tokens))
    return f"{text!r}, usage {usage.prompt_tokens}+{usage.completion_tokens}"


def collect_stream(stream):
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return chunks, text


def check_openai_stream(ctx):
    stream = openai_client(ctx["run_url"]).chat.completions.create(model=GPT_MODEL, messages=MESSAGES, stream=True)
    chunks, text = collect_stream(stream)
    expect(len(chunks) > 1, f"expected several chunks, got {len(chunks)}")
    expect(text.startswith(GREETING), f"streamed text {text!r} does not start with {GREETING!r}")
    if "openai_text" in ctx:
        expect(text == ctx["openai_text"], f"streamed text {text!r} differs from the plain reply {ctx['openai_text']!r}")
    # The caller did not ask for usage: modelgate may ask the provider for it (to meter), but
    # must not hand the caller the extra usage-only chunk (empty choices) the caller's code may
    # not expect (e.g. `chunk.choices[0]` would raise IndexError).
    empty = [c for c in chunks if not c.choices]
    expect(not empty, f"{len(empty)} chunk(s) with empty choices, e.g. {empty[0].model_dump_json() if empty else ''}")
    with_usage = [c for c in chunks if getattr(c, "usage", None) is not None]
    expect(not with_usage, f"{len(with_usage)} chunk(s) carry usage although the caller did not ask for it")
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    expect(finishes == ["stop"], f"finish reasons {finishes!r}")
    ids = {c.id for c in chunks}
    expect(len(ids) == 1, f"chunk ids differ: {ids!r}")
    return f"{len(chunks)} chunks, {text!r}"


def check_openai_stream_usage(ctx):
    stream = openai_client(ctx["run_url"]).chat.completions.create(
        model=GPT_MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True},
    )
    chunks, text = collect_stream(stream)
    expect(text.startswith(GREETING), f"streamed text {text!r} does not start with {GREETING!r}")
    last = chunks[-1]
    expect(last.choices == [], f"final chunk has choices {last.choices!r} (expected the usage-only chunk)")
    expect(last.usage is not None, f"final chunk has no usage: {last.model_dump_json()}")
    expect(last.usage.prompt_tokens > 0 and last.usage.completion_tokens > 0, f"usage {last.usage!r}")
    others = [c for c in chunks[:-1] if c.usage is not None]
    expect(not others, f"{len(others)} chunk(s) before the last carry usage")
    # Same request as the unasked stream, and the mock is deterministic: that stream cost the same.
    observed["gpt"].append((last.usage.prompt_tokens, last.usage.completion_tokens))
    observed["gpt"].append((last.usage.prompt_tokens, last.usage.completion_tokens))
    return f"{len(chunks)} chunks, final usage {last.usage.prompt_tokens}+{last.usage.completion_tokens}"


def check_openai_unknown_model(ctx):
    client = openai_client(ctx["run_url"], model="no-such-model")
    try:
        client.chat.completions.create(model=GPT_MODEL, messages=MESSAGES)
    except openai.NotFoundError as error:
        expect(error.status_code == 404, f"status {error.status_code}")
        return f"NotFoundError: {error.message[:100]}"
    except openai.APIStatusError as error:
        raise CheckFailed(f"expected NotFoundError, got {type(error).__name__} {error.status_code}: {error.response.text}")
    raise CheckFailed("expected NotFoundError, the call succeeded")


def check_openai_wrong_key(ctx):
    client = openai_client(ctx["run_url"], key=WRONG_KEY)
    try:
        client.chat.completions.create(model=GPT_MODEL, messages=MESSAGES)
    except openai.AuthenticationError as error:
        expect(error.status_code == 401, f"status {error.status_code}")
        return f"AuthenticationError: {error.message[:100]}"
    except openai.APIStatusError as error:
        raise CheckFailed(f"expected AuthenticationError, got {type(error).__name__} {error.status_code}: {error.response.text}")
    raise CheckFailed("expected AuthenticationError, the call succeeded")


def check_anthropic_create(ctx):
    message = anthropic_client(ctx["run_url"]).messages.create(model=CLAUDE_MODEL, max_tokens=64, messages=MESSAGES)
    text = "".join(block.text for block in message.content if block.type == "text")
    expect(text.startswith(GREETING), f"text {text!r} does not start with {GREETING!r}")
    expect(message.role == "assistant", f"role {message.role!r}")
    expect(message.stop_reason == "end_turn", f"stop_reason {message.stop_reason!r}")
    expect(message.usage.input_tokens > 0 and message.usage.output_tokens > 0, f"usage {message.usage!r}")
    ctx["anthropic_text"] = text
    observed["claude"].append((message.usage.input_tokens, message.usage.output_tokens))
    return f"{text!r}, usage {message.usage.input_tokens}+{message.usage.output_tokens}"


def check_anthropic_stream(ctx):
    client = anthropic_client(ctx["run_url"])
    events, deltas = [], []
    with client.messages.stream(model=CLAUDE_MODEL, max_tokens=64, messages=MESSAGES) as stream:
        for event in stream:
            events.append(event.type)
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                deltas.append(event.delta.text)
        final = stream.get_final_message()
    accumulated = "".join(block.text for block in final.content if block.type == "text")
    expect("".join(deltas) == accumulated, f"deltas {deltas!r} do not add up to the final text {accumulated!r}")
    expect(accumulated.startswith(GREETING), f"accumulated text {accumulated!r} does not start with {GREETING!r}")
    if "anthropic_text" in ctx:
        expect(accumulated == ctx["anthropic_text"], f"streamed {accumulated!r} differs from {ctx['anthropic_text']!r}")
    for needed in ("message_start", "content_block_delta", "message_stop"):
        expect(needed in events, f"no {needed} event in {events!r}")
    expect(final.stop_reason == "end_turn", f"stop_reason {final.stop_reason!r}")
    expect(final.usage.input_tokens > 0 and final.usage.output_tokens > 0, f"final usage {final.usage!r}")
    observed["claude"].append((final.usage.input_tokens, final.usage.output_tokens))
    return f"{events.count('content_block_delta')} deltas, {accumulated!r}, usage {final.usage.input_tokens}+{final.usage.output_tokens}"


def check_anthropic_text_stream(ctx):
    client = anthropic_client(ctx["run_url"])
    with client.messages.stream(model=CLAUDE_MODEL, max_tokens=64, messages=MESSAGES) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    text = "".join(pieces)
    expect(len(pieces) > 1, f"expected several text pieces, got {pieces!r}")
    expect(text.startswith(GREETING), f"text_stream {text!r} does not start with {GREETING!r}")
    observed["claude"].append((final.usage.input_tokens, final.usage.output_tokens))
    return f"{len(pieces)} pieces, {text!r}"


def check_anthropic_unknown_model(ctx):
    client = anthropic_client(ctx["run_url"], model="no-such-model")
    try:
        client.messages.create(model=CLAUDE_MODEL, max_tokens=64, messages=MESSAGES)
    except anthropic.NotFoundError as error:
        expect(error.status_code == 404, f"status {error.status_code}")
        return f"NotFoundError: {error.message[:100]}"
    except anthropic.APIStatusError as error:
        raise CheckFailed(f"expected NotFoundError, got {type(error).__name__} {error.status_code}: {error.response.text}")
    raise CheckFailed("expected NotFoundError, the call succeeded")


def check_anthropic_wrong_key(ctx):
    client = anthropic_client(ctx["run_url"], key=WRONG_KEY)
    try:
        client.messages.create(model=CLAUDE_MODEL, max_tokens=64, messages=MESSAGES)
    except anthropic.AuthenticationError as error:
        expect(error.status_code == 401, f"status {error.status_code}")
        return f"AuthenticationError: {error.message[:100]}"
    except anthropic.APIStatusError as error:
        raise CheckFailed(f"expected AuthenticationError, got {type(error).__name__} {error.status_code}: {error.response.text}")
    raise CheckFailed("expected AuthenticationError, the call succeeded")


def check_openai_sdk_on_claude(ctx):
    # The unified endpoint: the OpenAI SDK, unchanged, on an Anthropic model (translated).
    client = openai_client(ctx["run_url"], model=CLAUDE)
    completion = client.chat.completions.create(model="any", messages=MESSAGES)
    text = completion.choices[0].message.content or ""
    expect(text.startswith(GREETING), f"content {text!r} does not start with {GREETING!r}")
    expect(completion.choices[0].finish_reason == "stop", f"finish_reason {completion.choices[0].finish_reason!r}")
    usage = completion.usage
    expect(usage is not None and usage.prompt_tokens > 0, f"usage {usage!r}")
    observed["claude"].append((usage.prompt_tokens, usage.completion_tokens))
    stream = client.chat.completions.create(
        model="any", messages=MESSAGES, stream=True, stream_options={"include_usage": True},
    )
    chunks, streamed = collect_stream(stream)
    expect(streamed == text, f"streamed text {streamed!r} differs from the plain reply {text!r}")
    last = chunks[-1]
    expect(last.choices == [] and last.usage is not None, f"final chunk {last.model_dump_json()}")
    observed["claude"].append((last.usage.prompt_tokens, last.usage.completion_tokens))
    return f"{text!r}, then {len(chunks)} chunks"


def check_openai_sdk_tool_call_on_claude(ctx):
    client = openai_client(ctx["run_url"], model=CLAUDE)
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    completion = client.chat.completions.create(
        model="any", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=tools, tool_choice="required",
    )
    calls = completion.choices[0].message.tool_calls or []
    expect(len(calls) == 1 and calls[0].function.name == "get_weather", f"tool calls {calls!r}")
    expect(isinstance(json.loads(calls[0].function.arguments), dict), f"arguments {calls[0].function.arguments!r}")
    expect(completion.choices[0].finish_reason == "tool_calls", f"finish_reason {completion.choices[0].finish_reason!r}")
    observed["claude"].append((completion.usage.prompt_tokens, completion.usage.completion_tokens))
    return f"get_weather({calls[0].function.arguments})"


def check_openai_sdk_on_gemini(ctx):
    # The unified endpoint with the OpenAI SDK on a Gemini-typed model: plain, streamed, tools.
    client = openai_client(ctx["run_url"], model=GEMINI)
    completion = client.chat.completions.create(model="any", messages=MESSAGES)
    text = completion.choices[0].message.content or ""
    expect(text.startswith(GREETING), f"content {text!r} does not start with {GREETING!r}")
    expect(completion.usage is not None and completion.usage.total_tokens > 0, f"usage {completion.usage!r}")
    chunks, streamed = collect_stream(client.chat.completions.create(model="any", messages=MESSAGES, stream=True))
    expect(streamed == text, f"streamed text {streamed!r} differs from the plain reply {text!r}")
    expect(all(c.choices for c in chunks), "a chunk without choices although no usage was asked for")
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    called = client.chat.completions.create(
        model="any", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=tools, tool_choice="required",
    )
    calls = called.choices[0].message.tool_calls or []
    expect(len(calls) == 1 and calls[0].function.name == "get_weather", f"tool calls {calls!r}")
    follow_up = client.chat.completions.create(model="any", tools=tools, messages=[
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [calls[0].model_dump()]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": '{"temperature": 21}'},
    ])
    expect((follow_up.choices[0].message.content or "").startswith(GREETING), f"follow-up {follow_up!r}")
    return f"{text!r}, {len(chunks)} chunks, get_weather({calls[0].function.arguments})"


# --- the Responses API (client.responses) on models whose provider does not have it ----------

RESPONSES_MODELS = ((CLAUDE, "claude"), (GEMINI, None), (COHERE, "cohere"))
RESPONSES_WEATHER_TOOL = {"type": "function", "name": "get_weather", "description": "Weather of a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def record_usage(key, usage):
    if key is not None:
        observed[key].append((usage.input_tokens, usage.output_tokens))


def check_responses_plain(ctx):
    seen = []
    for model, key in RESPONSES_MODELS:
        response = openai_client(ctx["run_url"], model=model).responses.create(
            model="my-agent", instructions="You are terse.", input="Say hello to the SDK test", max_output_tokens=64,
        )
        expect(response.status == "completed", f"{model}: status {response.status!r}")
        expect(response.model == "my-agent", f"{model}: model {response.model!r} is not the name the client sent")
        expect(response.output_text.startswith(GREETING), f"{model}: output_text {response.output_text!r}")
        usage = response.usage
        expect(usage.input_tokens > 0 and usage.output_tokens > 0, f"{model}: usage {usage!r}")
        expect(usage.total_tokens == usage.input_tokens + usage.output_tokens, f"{model}: usage total {usage!r}")
        record_usage(key, usage)
        ctx[f"responses_text_{model}"] = response.output_text
        seen.append(f"{model}: {response.output_text[:30]!r}")
    return "; ".join(seen)


def check_responses_stream(ctx):
    seen = []
    for model, key in RESPONSES_MODELS:
        stream = openai_client(ctx["run_url"], model=model).responses.create(
            model="my-agent", instructions="You are terse.", input="Say hello to the SDK test", max_output_tokens=64,
            stream=True,
        )
        events = list(stream)
        types = [event.type for event in events]
        for needed in ("response.created", "response.output_item.added", "response.output_text.delta",
                       "response.output_text.done", "response.output_item.done"):
            expect(needed in types, f"{model}: no {needed} in {types!r}")
        expect(types[-1] == "response.completed", f"{model}: last event {types[-1]!r}")
        numbers = [event.sequence_number for event in events]
        expect(numbers == list(range(len(events))), f"{model}: sequence numbers {numbers!r}")
        text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
        final = events[-1].response
        expect(final.output_text == text, f"{model}: deltas {text!r} differ from the final text {final.output_text!r}")
        plain = ctx.get(f"responses_text_{model}")
        expect(plain is None or plain == text, f"{model}: streamed {text!r} differs from the plain answer {plain!r}")
        expect(final.usage.input_tokens > 0 and final.usage.output_tokens > 0, f"{model}: usage {final.usage!r}")
        record_usage(key, final.usage)
        seen.append(f"{model}: {len(events)} events")
    return "; ".join(seen)


def check_responses_tool_round_trip(ctx):
    seen = []
    for model, key in RESPONSES_MODELS:
        client = openai_client(ctx["run_url"], model=model)
        asked = client.responses.create(
            model="my-agent", input="Weather in Paris? Use get_weather.", tools=[RESPONSES_WEATHER_TOOL], tool_choice="required",
        )
        calls = [item for item in asked.output if item.type == "function_call"]
        expect(len(calls) == 1 and calls[0].name == "get_weather", f"{model}: output {asked.output!r}")
        arguments = json.loads(calls[0].arguments)
        expect(isinstance(arguments.get("city"), str), f"{model}: arguments {calls[0].arguments!r}")
        record_usage(key, asked.usage)
        answered = client.responses.create(model="my-agent", tools=[RESPONSES_WEATHER_TOOL], input=[
            {"role": "user", "content": "Weather in Paris?"},
            *[item.model_dump(exclude_none=True) for item in asked.output],
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": json.dumps({"temperature": 21})},
        ])
        expect(answered.output_text.startswith(GREETING), f"{model}: follow-up {answered.output_text!r}")
        record_usage(key, answered.usage)
        seen.append(f"{model}: get_weather({calls[0].arguments})")
    return "; ".join(seen)


def check_responses_structured_output(ctx):
    import pydantic

    class Weather(pydantic.BaseModel):
        city: str
        celsius: int

    seen = []
    for model, key in RESPONSES_MODELS:
        parsed = openai_client(ctx["run_url"], model=model).responses.parse(
            model="my-agent", input="Weather in Paris as JSON", text_format=Weather,
        )
        expect(isinstance(parsed.output_parsed, Weather), f"{model}: output_parsed {parsed.output_parsed!r}")
        record_usage(key, parsed.usage)
        seen.append(f"{model}: {parsed.output_parsed!r}")
    return "; ".join(seen)


def check_responses_stateless(ctx):
    client = openai_client(ctx["run_url"], model=CLAUDE)
    try:
        client.responses.create(model="my-agent", input="hi", previous_response_id="resp_123")
    except openai.BadRequestError as error:
        # Refused by the gateway: metered as one request with an error and no tokens.
        observed["claude"].append((0, 0))
        expect("modelgate keeps no responses" in error.message, f"message {error.message!r}")
        return f"BadRequestError: {error.message[:90]}"
    raise CheckFailed("expected BadRequestError, the call succeeded")


WEATHER_TOOL = {"name": "get_weather", "description": "Weather of a city",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
WEATHER_QUESTION = [{"role": "user", "content": "Weather in Paris?"}]


def workspace_anthropic_client(run_url):
    # As Claude Code is set up: ANTHROPIC_BASE_URL={RUN_URL}/{ws}, a model endpoint's name as the model.
    return anthropic.Anthropic(base_url=f"{run_url}/{WORKSPACE}", api_key=ADMIN_KEY, timeout=SDK_TIMEOUT, max_retries=0)


def counted(key, usage):
    """Records what the SDK reports (cache reads are input too, as modelgate meters them)."""
    cached = getattr(usage, "cache_read_input_tokens", None) or 0
    observed[key].append((usage.input_tokens + cached, usage.output_tokens))


def tool_calls(message):
    return [block for block in message.content if block.type == "tool_use"]


def anthropic_sdk_check(model, key):
    """The Anthropic SDK through the workspace's base URL on a model of another provider: plain,
    streamed, and a tool-use round trip (plain and streamed)."""
    def check(ctx):
        client = workspace_anthropic_client(ctx["run_url"])
        message = client.messages.create(model=model, max_tokens=64, system="You are terse.", messages=MESSAGES)
        text = "".join(block.text for block in message.content if block.type == "text")
        expect(text.startswith(GREETING), f"text {text!r} does not start with {GREETING!r}")
        expect(message.model == model, f"model {message.model!r}, expected the name sent, {model!r}")
        expect(message.id.startswith("msg_") and message.stop_reason == "end_turn", f"message {message!r}")
        expect(message.usage.input_tokens > 0 and message.usage.output_tokens > 0, f"usage {message.usage!r}")
        counted(key, message.usage)

        with client.messages.stream(model=model, max_tokens=64, messages=MESSAGES) as stream:
            events = [event.type for event in stream]
            final = stream.get_final_message()
        streamed = "".join(block.text for block in final.content if block.type == "text")
        expect(streamed == text, f"streamed {streamed!r} differs from {text!r}")
        for needed in ("message_start", "content_block_start", "content_block_delta", "content_block_stop",
                       "message_delta", "message_stop"):
            expect(needed in events, f"no {needed} event in {events!r}")
        expect(final.stop_reason == "end_turn", f"stop_reason {final.stop_reason!r}")
        expect(final.usage.input_tokens > 0 and final.usage.output_tokens > 0, f"final usage {final.usage!r}")
        counted(key, final.usage)

        asked = client.messages.create(model=model, max_tokens=64, tools=[WEATHER_TOOL], tool_choice={"type": "any"},
                                       messages=WEATHER_QUESTION)
        calls = tool_calls(asked)
        expect(len(calls) == 1 and calls[0].name == "get_weather", f"content {asked.content!r}")
        expect(isinstance(calls[0].input, dict) and asked.stop_reason == "tool_use", f"answer {asked!r}")
        counted(key, asked.usage)
        answered = client.messages.create(model=model, max_tokens=64, tools=[WEATHER_TOOL], messages=WEATHER_QUESTION + [
            {"role": "assistant", "content": asked.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": calls[0].id, "content": '{"temperature": 21}'}]},
        ])
        reply = "".join(block.text for block in answered.content if block.type == "text")
        expect(reply.startswith(GREETING) and answered.stop_reason == "end_turn", f"follow-up {answered!r}")
        counted(key, answered.usage)

        with client.messages.stream(model=model, max_tokens=64, tools=[WEATHER_TOOL], tool_choice={"type": "any"},
                                    messages=WEATHER_QUESTION) as stream:
            final = stream.get_final_message()
        streamed_calls = tool_calls(final)
        expect(len(streamed_calls) == 1 and isinstance(streamed_calls[0].input, dict), f"streamed {final.content!r}")
        expect(final.stop_reason == "tool_use", f"streamed stop_reason {final.stop_reason!r}")
        counted(key, final.usage)
        return f"{text!r}, {events.count('content_block_delta')} deltas, get_weather({json.dumps(calls[0].input)})"
    check.__name__ = f"check_anthropic_sdk_on_{model.replace('-', '_')}"
    return check


# --- the Vercel AI SDK (Node) ------------------------------------------------------------------

VERCEL_OBSERVED_KEYS = {GPT: "gpt", CLAUDE: "claude", GEMINI: "gemini", COHERE: "cohere"}


def check_vercel_ai_sdk(ctx):
    """Runs tests/sdk/vercel/test.mjs (its own checks, one line each, are printed indented) and
    adds the usage the SDK reported to what the usage checks expect."""
    reason = os.environ.get("SDK_VERCEL_SKIPPED")
    if reason and os.environ.get("CI") != "true":
        raise CheckSkipped(reason)
    node = shutil.which("node")
    expect(node is not None, "node not found (apt-get install nodejs npm)")
    expect(os.path.isdir(os.path.join(VERCEL_DIR, "node_modules", "@ai-sdk", "openai")),
           "tests/sdk/vercel/node_modules is missing (tests/sdk/run.sh installs it with npm ci)")
    with tempfile.TemporaryDirectory(prefix="modelgate-vercel-") as scratch:
        usage_file = os.path.join(scratch, "usage.json")
        env = dict(os.environ, MODELGATE_RUN_URL=ctx["run_url"], MODELGATE_WORKSPACE=WORKSPACE,
                   MODELGATE_API_KEY=ADMIN_KEY, MODELGATE_USAGE_FILE=usage_file)
        result = subprocess.run([node, "test.mjs"], cwd=VERCEL_DIR, env=env, stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=VERCEL_TIMEOUT)
        lines = (result.stdout + result.stderr).rstrip().splitlines()
        for line in lines:
            print(f"    vercel | {line}")
        if os.path.exists(usage_file):
            with open(usage_file) as f:
                for model, pairs in json.load(f).items():
                    observed[VERCEL_OBSERVED_KEYS[model]].extend(tuple(pair) for pair in pairs)
    failures = [line for line in lines if line.startswith("FAIL ")]
    expect(result.returncode == 0, f"test.mjs exited with {result.returncode}: " + "; ".join(failures or lines[-3:]))
    return lines[-1] if lines else "no output"


def usage_check(model, key):
    def check(ctx):
        expected_requests = len(observed[key])
        expected_in = sum(i for i, _ in observed[key])
        expected_out = sum(o for _, o in observed[key])
        expect(expected_requests > 0, "no earlier check of this model succeeded; nothing to compare")
        deadline = time.monotonic() + USAGE_WAIT
        totals = None
        while True:
            status, body = control(ctx["api_url"], "GET", f"/models/{model}/usage")
            expect(status == 200, f"GET /v0/models/{model}/usage answered {status}: {body}")
            totals = body.get("totals", {})
            if totals.get("requests", 0) >= expected_requests or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        got = (totals.get("requests"), totals.get("inputTokens"), totals.get("outputTokens"))
        want = (expected_requests, expected_in, expected_out)
        expect(got == want, f"usage totals (requests, inputTokens, outputTokens) = {got}, expected {want}; totals {totals}")
        return f"requests {got[0]}, input {got[1]}, output {got[2]}"
    check.__name__ = f"check_usage_{model.replace('-', '_')}"
    return check


CHECKS = [
    check_openai_chat,
    check_openai_stream,
    check_openai_stream_usage,
    check_openai_unknown_model,
    check_openai_wrong_key,
    check_anthropic_create,
    check_anthropic_stream,
    check_anthropic_text_stream,
    check_anthropic_unknown_model,
    check_anthropic_wrong_key,
    check_openai_sdk_on_claude,
    check_openai_sdk_tool_call_on_claude,
    check_openai_sdk_on_gemini,
    check_responses_plain,
    check_responses_stream,
    check_responses_tool_round_trip,
    check_responses_structured_output,
    check_responses_stateless,
    anthropic_sdk_check(GPT, "gpt"),
    anthropic_sdk_check(GEMINI, "gemini"),
    anthropic_sdk_check(COHERE, "cohere"),
    check_vercel_ai_sdk,
    usage_check(GPT, "gpt"),
    usage_check(CLAUDE, "claude"),
    usage_check(COHERE, "cohere"),
]


# --- main --------------------------------------------------------------------------------------


def on_sigterm(signum, _frame):
    raise SystemExit(128 + signum)


def main():
    signal.signal(signal.SIGTERM, on_sigterm)
    binary = os.environ.get("MODELGATE_BIN") or os.path.join(REPO_ROOT, "target", "debug", "modelgate")
    if not os.path.isabs(binary):
        binary = os.path.join(REPO_ROOT, binary)
    print(f"openai {openai.__version__}, anthropic {anthropic.__version__}, python {sys.version.split()[0]}")
    print(f"binary: {binary}")
    passed = failed = skipped = 0
    started = time.monotonic()
    data_dir = tempfile.mkdtemp(prefix="modelgate-sdk-")
    procs = []
    stage = "setup"
    try:
        if not os.access(binary, os.X_OK):
            raise RuntimeError(f"{binary} is not an executable (build it with `cargo build --bin modelgate`)")
        mock_port, api_port, run_port = free_ports(3)
        env = dict(os.environ)
        env.update({
            "MODELGATE_DATA_DIR": os.path.join(data_dir, "data"),
            "MODELGATE_API_ADDR": f"127.0.0.1:{api_port}",
            "MODELGATE_RUN_ADDR": f"127.0.0.1:{run_port}",
            "MODELGATE_BOOTSTRAP_API_KEY": ADMIN_KEY,
        })
        env.setdefault("MODELGATE_LOG", "info")
        # Never send the test's loopback traffic through a proxy from the environment.
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
        mock = Proc("mock-provider", [binary, "mock-provider", "--addr", f"127.0.0.1:{mock_port}"], env, data_dir)
        procs.append(mock)
        server = Proc("modelgate", [binary, "serve"], env, data_dir)
        procs.append(server)
        wait_for_port(mock, mock_port)
        api_url, run_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{run_port}"
        wait_for_health(server, api_url)
        wait_for_port(server, run_port)
        configure(api_url, f"http://127.0.0.1:{mock_port}")
        print(f"started in {time.monotonic() - started:.1f} s: control {api_url}/v0, inference {run_url}, mock :{mock_port}")
        ctx = {"api_url": api_url, "run_url": run_url}
        stage = "run (interrupted)"
        for check in CHECKS:
            t0 = time.monotonic()
            try:
                detail = check(ctx)
                passed += 1
                print(f"PASS {check.__name__} ({time.monotonic() - t0:.2f} s): {detail}", flush=True)
            except CheckSkipped as reason:
                skipped += 1
                print(f"SKIP {check.__name__}: {reason}", flush=True)
            except CheckFailed as error:
                failed += 1
                print(f"FAIL {check.__name__}: {error}", flush=True)
            except Exception as error:  # an SDK error, a malformed stream, ...
                failed += 1
                print(f"FAIL {check.__name__}: {type(error).__name__}: {error}", flush=True)
                traceback.print_exc(limit=4)
    except BaseException as error:
        failed += 1
        print(f"FAIL {stage}: {type(error).__name__}: {error}", flush=True)
    finally:
        for proc in reversed(procs):
            try:
                proc.stop()
            except Exception as error:
                print(f"warning: stopping {proc.name}: {error}", flush=True)
        if failed or os.environ.get("SDK_TEST_VERBOSE") == "1":
            for proc in procs:
                print(f"----- {proc.name} log (last 60 lines) -----")
                print("\n".join(proc.output().splitlines()[-60:]))
        shutil.rmtree(data_dir, ignore_errors=True)
        print(f"elapsed {time.monotonic() - started:.1f} s")
        print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
