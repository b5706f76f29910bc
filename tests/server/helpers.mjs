// Shared by the end-to-end tests: the servers tests/server/e2e_test.cpp started, and small helpers.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';

function env(name) {
  const value = process.env[name];
  assert.ok(value, `${name} is not set: run these tests through dseek_tests (ServerE2e), which starts the servers`);
  return value;
}

// The main server: v2-chat-tiny (V2-Lite-Chat template), an API key, --parallel 4 --ctx 2048 --kv-tokens 2048.
export const baseURL = env('DSEEK_BASE_URL');
export const apiKey = env('DSEEK_TEST_API_KEY');
export const model = env('DSEEK_MODEL');
export const maxBodyBytes = Number(env('DSEEK_MAX_BODY_BYTES'));
// The same model with the DeepSeek-V3.2 chat template (reasoning, tools), no API key.
export const v32BaseURL = env('DSEEK_V32_BASE_URL');

export const e2e = JSON.parse(readFileSync(`${env('DSEEK_FIXTURES')}/models/v2-chat-tiny/e2e.json`, 'utf8'));
export const chatCases = e2e.cases.filter((c) => c.kind === 'chat');
export const completionCases = e2e.cases.filter((c) => c.kind === 'completion');

export function client(options = {}) {
  return new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000, ...options });
}

export function v32Client() {
  return new OpenAI({ baseURL: v32BaseURL, apiKey: 'unused', maxRetries: 0, timeout: 60_000 });
}

// A raw request, for what the SDK will not send (malformed JSON, unknown routes).
export async function raw(path, { method = 'POST', body, headers = {}, base = baseURL } = {}) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', ...headers },
    body,
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text };
}

// The server's root ("http://host:port"), for /health and /metrics.
export const root = new URL(baseURL).origin;

// GET /metrics parsed into {"name{labels}": value}.
export async function metrics() {
  const response = await fetch(`${root}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const values = {};
  for (const line of (await response.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    values[line.slice(0, at)] = Number(line.slice(at + 1));
  }
  return values;
}

// Polls until check(metrics) holds; fails after `ms`.
export async function waitForMetrics(check, ms = 10_000, what = 'metrics condition') {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await metrics();
    if (check(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.fail(`${what} not reached in ${ms} ms; last metrics: ${JSON.stringify(last)}`);
}

// Checks an error response body has OpenAI's shape and returns its error object.
export function errorOf(text) {
  const body = JSON.parse(text);
  assert.equal(typeof body.error, 'object', text);
  for (const key of ['message', 'type', 'param', 'code']) assert.ok(key in body.error, `no error.${key} in ${text}`);
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0);
  return body.error;
}

export function greedy(messages, extra = {}) {
  return { model, messages, temperature: 0, max_tokens: e2e.max_new_tokens, ...extra };
}
