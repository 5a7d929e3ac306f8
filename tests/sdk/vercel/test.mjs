// The Vercel AI SDK (`ai` with `@ai-sdk/openai`, unmodified) against modelgate's inference plane.
//
// The provider is the SDK's default one, pointed at a workspace's base URL:
//   createOpenAI({ baseURL: `${RUN_URL}/${workspace}/v1`, apiKey })(modelName)
// which speaks OpenAI's Responses API (`POST {RUN_URL}/{workspace}/v1/responses`, the model endpoint
// named in the body), and `.chat(modelName)` for chat completions.
//
// Run by tests/sdk/test_sdks.py, which starts modelgate and its mock provider and creates the model
// endpoints used here. Environment:
//   MODELGATE_RUN_URL     the inference plane, e.g. http://127.0.0.1:8081 (required)
//   MODELGATE_API_KEY     a modelgate API key (required)
//   MODELGATE_WORKSPACE   the workspace (default: default)
//   MODELGATE_USAGE_FILE  where to write, as JSON, the usage the SDK reported for each request, by
//                         model endpoint (optional; the driver compares it with modelgate's meter)
// Prints one PASS or FAIL line per check and ends with `N passed, M failed` (exit status 1 on any
// failure).

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';

import { createOpenAI } from '@ai-sdk/openai';
import { APICallError, generateObject, generateText, stepCountIs, streamText, tool } from 'ai';
import { z } from 'zod';

const RUN_URL = requiredEnv('MODELGATE_RUN_URL');
const API_KEY = requiredEnv('MODELGATE_API_KEY');
const WORKSPACE = process.env.MODELGATE_WORKSPACE || 'default';
const USAGE_FILE = process.env.MODELGATE_USAGE_FILE;

// The model endpoints test_sdks.py creates, and what its mock provider answers.
const GPT = 'my-gpt'; // openai-typed: the Responses API passed through to the mock
const TRANSLATED = ['my-claude', 'my-gemini', 'my-command']; // anthropic-, gemini-, cohere-typed
const GREETING = 'Hello from the mock';
// Not a timing assertion: a bound so that a hung request fails its check instead of the whole run.
const REQUEST_BOUND_MS = 30_000;

const openai = createOpenAI({ baseURL: `${RUN_URL}/${WORKSPACE}/v1`, apiKey: API_KEY });

const PROMPT = 'Say hello to the SDK test';
const WEATHER_QUESTION = 'Weather in Paris? Use get_weather.';
const weatherInput = z.object({ city: z.string() });
const Weather = z.object({ city: z.string(), celsius: z.number().int() });

// modelgate keeps no responses. The SDK assumes OpenAI's default (`store` true) and, when a
// conversation goes on, sends an earlier answer as an `item_reference` to its id, which modelgate
// refuses with a 400 on models that are not openai-typed; with `store: false` it sends the items.
const STATELESS = { openai: { store: false } };

/** Per-request options: no retries (a failure shows as it is) and the hang bound. */
function callOptions() {
  return { maxRetries: 0, abortSignal: AbortSignal.timeout(REQUEST_BOUND_MS) };
}

// --- what the SDK reported, for the driver's usage check --------------------------------------

const reported = {};

function record(model, usage) {
  (reported[model] ??= []).push([usage.inputTokens, usage.outputTokens]);
}

function expectUsage(usage, what) {
  assert.ok(usage.inputTokens > 0 && usage.outputTokens > 0, `${what}: usage ${JSON.stringify(usage)}`);
  assert.equal(usage.totalTokens, usage.inputTokens + usage.outputTokens, `${what}: total of ${JSON.stringify(usage)}`);
}

// --- streams ----------------------------------------------------------------------------------

/**
 * Reads a streamText result to its end: the parts' types, the text deltas and the tool calls.
 * An error part (the SDK reports a malformed stream this way, not by throwing) fails the check.
 */
async function drain(result) {
  const types = [];
  const deltas = [];
  const toolCalls = [];
  for await (const part of result.fullStream) {
    types.push(part.type);
    if (part.type === 'error') throw part.error;
    if (part.type === 'text-delta') deltas.push(part.text);
    if (part.type === 'tool-call') toolCalls.push(part);
  }
  return { types, deltas, toolCalls };
}

/** A streamText call that does not print the stream's errors itself (drain() reports them). */
function stream(options) {
  return streamText({ ...callOptions(), onError: () => {}, ...options });
}

// --- checks -----------------------------------------------------------------------------------

const plainText = {};

async function responsesPlain(model) {
  const result = await generateText({ ...callOptions(), model: openai(model), system: 'You are terse.', prompt: PROMPT });
  assert.ok(result.text.startsWith(GREETING), `text ${JSON.stringify(result.text)}`);
  assert.equal(result.finishReason, 'stop');
  expectUsage(result.usage, 'answer');
  record(model, result.usage);
  plainText[model] = result.text;
  return `${JSON.stringify(result.text)}, usage ${result.usage.inputTokens}+${result.usage.outputTokens}`;
}

async function responsesStream(model) {
  const result = stream({ model: openai(model), system: 'You are terse.', prompt: PROMPT });
  const { deltas } = await drain(result);
  const text = deltas.join('');
  assert.ok(deltas.length > 1, `expected several text deltas, got ${JSON.stringify(deltas)}`);
  assert.ok(text.startsWith(GREETING), `streamed text ${JSON.stringify(text)}`);
  if (model in plainText) assert.equal(text, plainText[model], 'the streamed text differs from the plain answer');
  assert.equal(await result.text, text);
  assert.equal(await result.finishReason, 'stop');
  const usage = await result.usage;
  expectUsage(usage, 'final usage');
  record(model, usage);
  return `${deltas.length} deltas, usage ${usage.inputTokens}+${usage.outputTokens}`;
}

/**
 * A weather tool that records what it was called with. The first step must call a tool
 * (`toolChoice: 'required'`); the next one is left to the model (`prepareStep`), which answers
 * with text once it has the result.
 */
function weatherToolRun() {
  const executed = [];
  const get_weather = tool({
    description: 'Weather of a city',
    inputSchema: weatherInput,
    execute: async (input) => {
      executed.push(input);
      return { city: input.city, celsius: 21 };
    },
  });
  const options = {
    tools: { get_weather },
    toolChoice: 'required',
    prepareStep: ({ stepNumber }) => (stepNumber > 0 ? { toolChoice: 'auto' } : {}),
    stopWhen: stepCountIs(2),
    prompt: WEATHER_QUESTION,
  };
  return { executed, options };
}

function expectToolRoundTrip(steps, executed, text) {
  assert.equal(steps.length, 2, `steps: ${JSON.stringify(steps.map((step) => step.finishReason))}`);
  const [asked, answered] = steps;
  assert.equal(asked.finishReason, 'tool-calls');
  assert.equal(asked.toolCalls.length, 1, `tool calls ${JSON.stringify(asked.toolCalls)}`);
  const call = asked.toolCalls[0];
  assert.equal(call.toolName, 'get_weather');
  assert.ok(call.input !== null && typeof call.input === 'object' && !Array.isArray(call.input),
    `tool input ${JSON.stringify(call.input)} is not a JSON object`);
  assert.equal(typeof call.input.city, 'string', `tool input ${JSON.stringify(call.input)}`);
  assert.deepEqual(executed, [call.input], 'the tool ran once, with the input of the call');
  assert.deepEqual(asked.toolResults.map((result) => result.output), [{ city: call.input.city, celsius: 21 }]);
  assert.equal(answered.finishReason, 'stop');
  assert.equal(answered.toolCalls.length, 0, `a second tool call ${JSON.stringify(answered.toolCalls)}`);
  assert.ok(text.startsWith(GREETING), `final text ${JSON.stringify(text)}`);
  return call;
}

async function responsesToolRoundTrip(model) {
  const { executed, options } = weatherToolRun();
  const result = await generateText({ ...callOptions(), model: openai(model), ...options });
  const call = expectToolRoundTrip(result.steps, executed, result.text);
  for (const step of result.steps) {
    expectUsage(step.usage, `step ${step.stepNumber}`);
    record(model, step.usage);
  }
  return `get_weather(${JSON.stringify(call.input)}), then ${JSON.stringify(result.text.slice(0, 40))}`;
}

async function responsesStreamedToolRoundTrip(model) {
  const { executed, options } = weatherToolRun();
  const result = stream({ model: openai(model), ...options });
  const { types, toolCalls } = await drain(result);
  for (const needed of ['tool-input-start', 'tool-input-delta', 'tool-call', 'tool-result', 'text-delta']) {
    assert.ok(types.includes(needed), `no ${needed} part in ${types.join(',')}`);
  }
  assert.equal(toolCalls.length, 1, `tool calls ${JSON.stringify(toolCalls)}`);
  const steps = await result.steps;
  const call = expectToolRoundTrip(steps, executed, await result.text);
  for (const step of steps) {
    expectUsage(step.usage, `step ${step.stepNumber}`);
    record(model, step.usage);
  }
  return `get_weather(${JSON.stringify(call.input)}) streamed in ${types.filter((t) => t === 'tool-input-delta').length} deltas`;
}

async function responsesObject(model) {
  const result = await generateObject({ ...callOptions(), model: openai(model), schema: Weather, prompt: 'Weather in Paris as JSON' });
  // The mock answers a JSON schema with a sample value of each property's type.
  assert.deepEqual(result.object, { city: 'mock', celsius: 1 });
  assert.equal(result.finishReason, 'stop');
  expectUsage(result.usage, 'answer');
  record(model, result.usage);
  return JSON.stringify(result.object);
}

async function responsesConversation(model) {
  const opening = [{ role: 'user', content: PROMPT }];
  const first = await generateText({ ...callOptions(), model: openai(model), providerOptions: STATELESS, messages: opening });
  record(model, first.usage);
  const messages = [...opening, ...first.response.messages, { role: 'user', content: 'And once more, please.' }];
  assert.equal(messages.length, 3, `the first answer's messages: ${JSON.stringify(first.response.messages)}`);
  const second = await generateText({ ...callOptions(), model: openai(model), providerOptions: STATELESS, messages });
  assert.ok(second.text.startsWith(GREETING), `second answer ${JSON.stringify(second.text)}`);
  expectUsage(second.usage, 'second answer');
  assert.ok(second.usage.inputTokens > first.usage.inputTokens,
    `the second prompt (${second.usage.inputTokens} tokens) should count the history (first: ${first.usage.inputTokens})`);
  record(model, second.usage);
  return `input ${first.usage.inputTokens} then ${second.usage.inputTokens} tokens`;
}

async function chatCompletions(model) {
  const plain = await generateText({ ...callOptions(), model: openai.chat(model), prompt: PROMPT });
  assert.ok(plain.text.startsWith(GREETING), `text ${JSON.stringify(plain.text)}`);
  assert.equal(plain.finishReason, 'stop');
  expectUsage(plain.usage, 'answer');
  record(model, plain.usage);
  const streamed = stream({ model: openai.chat(model), prompt: PROMPT });
  const { deltas } = await drain(streamed);
  assert.equal(deltas.join(''), plain.text, 'the streamed text differs from the plain answer');
  assert.equal(await streamed.finishReason, 'stop');
  const usage = await streamed.usage;
  expectUsage(usage, 'streamed usage');
  record(model, usage);
  return `${JSON.stringify(plain.text.slice(0, 40))}, then ${deltas.length} deltas`;
}

async function unknownModel() {
  try {
    await generateText({ ...callOptions(), model: openai('no-such-model'), prompt: PROMPT });
  } catch (error) {
    assert.ok(APICallError.isInstance(error), `expected an APICallError, got ${describe(error)}`);
    assert.equal(error.statusCode, 404);
    assert.match(error.message, /no-such-model/);
    return `APICallError ${error.statusCode}: ${error.message}`;
  }
  assert.fail('the call succeeded');
}

const CHECKS = [
  // The openai-typed model: passed through to the mock's Responses API, which answers text only
  // (no tools, no structured output), plain and streamed.
  [`responses plain on ${GPT}`, () => responsesPlain(GPT)],
  [`responses stream on ${GPT}`, () => responsesStream(GPT)],
  [`responses conversation (store: false) on ${GPT}`, () => responsesConversation(GPT)],
  ...TRANSLATED.flatMap((model) => [
    [`responses plain on ${model}`, () => responsesPlain(model)],
    [`responses stream on ${model}`, () => responsesStream(model)],
    [`responses tool round trip on ${model}`, () => responsesToolRoundTrip(model)],
    [`responses streamed tool round trip on ${model}`, () => responsesStreamedToolRoundTrip(model)],
    [`responses generateObject on ${model}`, () => responsesObject(model)],
    [`responses conversation (store: false) on ${model}`, () => responsesConversation(model)],
  ]),
  ['chat completions (.chat) on my-claude', () => chatCompletions('my-claude')],
  ['unknown model', unknownModel],
];

// --- running ----------------------------------------------------------------------------------

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set (tests/sdk/test_sdks.py sets it; see the top of this file)`);
    process.exit(2);
  }
  return value;
}

/** An error with what the SDK knows of the exchange: the request sent and the answer. */
function describe(error) {
  if (!(error instanceof Error)) return String(error);
  const lines = [`${error.name}: ${clip(error.message)}`];
  if (APICallError.isInstance(error)) {
    lines.push(`  request: POST ${error.url} ${JSON.stringify(error.requestBodyValues)}`);
    lines.push(`  response: ${error.statusCode} ${error.responseBody}`);
  }
  if (error.value !== undefined) lines.push(`  value: ${clip(JSON.stringify(error.value))}`);
  const cause = error.cause;
  if (cause instanceof Error && cause !== error && !error.message.includes(cause.message)) {
    lines.push(`  cause: ${describe(cause)}`);
  }
  return lines.join('\n');
}

/** A long message (a schema validation error lists every alternative) cut to its start. */
function clip(text, max = 600) {
  return text.length > max ? `${text.slice(0, max)}... (${text.length - max} more characters)` : text;
}

let passed = 0;
let failed = 0;
for (const [name, check] of CHECKS) {
  const started = performance.now();
  try {
    const detail = await check();
    passed += 1;
    console.log(`PASS ${name} (${((performance.now() - started) / 1000).toFixed(2)} s): ${detail}`);
  } catch (error) {
    failed += 1;
    console.log(`FAIL ${name}: ${describe(error)}`);
  }
}
if (USAGE_FILE) writeFileSync(USAGE_FILE, JSON.stringify(reported));
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
