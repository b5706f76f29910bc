// Many clients at once: batching must not change greedy output; requests beyond the slots or
// the KV budget wait; a client that disconnects frees its sequence; /metrics tells it all.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chatCases, client, greedy, metrics, model, waitForMetrics } from './helpers.mjs';

const openai = client();
const idle = (m) => m.dseek_num_requests_running === 0 && m.dseek_num_requests_waiting === 0 && m.dseek_kv_cache_used_tokens === 0;

async function streamText(request) {
  let text = '';
  for await (const chunk of await openai.chat.completions.create({ ...request, stream: true })) {
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  return text;
}

test('concurrent requests, streaming or not, each get their own greedy continuation', async () => {
  const jobs = [];
  for (let round = 0; round < 3; ++round) {
    for (const c of chatCases) {
      const request = greedy(c.messages);
      jobs.push(round % 2 === 0
        ? streamText(request).then((text) => [text, c.greedy_text])
        : openai.chat.completions.create(request).then((r) => [r.choices[0].message.content, c.greedy_text]));
    }
  }
  const results = await Promise.all(jobs);  // 9 requests on 4 slots: some wait their turn
  for (const [text, expected] of results) assert.equal(text, expected);
  await waitForMetrics(idle, 10_000, 'idle after the batch');
});

test('requests beyond the KV budget wait in the queue, none is dropped', async () => {
  const before = await metrics();
  // Each reserves ~1000 of the 2048 cached positions: two run, the others wait.
  const prompt = Array.from({ length: 900 }, (_, i) => 1000 + i);
  let sawWaiting = false;
  const watcher = (async () => {
    for (let i = 0; i < 500 && !sawWaiting; ++i) {
      const m = await metrics();
      sawWaiting = m.dseek_num_requests_waiting > 0 && m.dseek_kv_cache_used_tokens > 0;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  const results = await Promise.all(Array.from({ length: 4 }, () =>
    openai.completions.create({ model, prompt, max_tokens: 100, ignore_eos: true, temperature: 0 })));
  await watcher;
  for (const r of results) assert.equal(r.usage.completion_tokens, 100);
  assert.ok(sawWaiting, 'some request waited for KV cache room');
  const after = await waitForMetrics(idle, 10_000, 'idle after the queue drained');
  assert.equal(after['dseek_request_finished_total{reason="length"}'] - (before['dseek_request_finished_total{reason="length"}'] ?? 0), 4);
});

async function cancelled() {
  return (await metrics())['dseek_request_finished_total{reason="cancelled"}'] ?? 0;
}

test('a streaming client that disconnects cancels its sequence and frees its cache', async () => {
  const before = await cancelled();
  const generatedBefore = (await metrics()).dseek_generation_tokens_total;
  const controller = new AbortController();
  const stream = await openai.chat.completions.create(
    { model, messages: chatCases[0].messages, max_tokens: 1900, ignore_eos: true, stream: true },
    { signal: controller.signal });
  let chunks = 0;
  // The client ends the iteration quietly on abort; the server sees the connection close.
  for await (const chunk of stream) {
    if (chunk.choices[0]?.delta?.content && ++chunks === 3) controller.abort();
  }
  assert.ok(chunks >= 3);
  const after = await waitForMetrics(idle, 5_000, 'the cancelled sequence leaves');
  assert.equal(await cancelled(), before + 1);
  assert.ok(after.dseek_generation_tokens_total - generatedBefore < 1900, 'stopped early');
});

test('a non-streaming client that disconnects cancels its sequence too', async () => {
  const before = await cancelled();
  const generatedBefore = (await metrics()).dseek_generation_tokens_total;
  const controller = new AbortController();
  const request = openai.chat.completions.create(
    { model, messages: chatCases[0].messages, max_tokens: 1900, ignore_eos: true },
    { signal: controller.signal });
  request.catch(() => {});
  await waitForMetrics((m) => m.dseek_num_requests_running === 1 && m.dseek_generation_tokens_total > generatedBefore,
    5_000, 'the request runs');
  controller.abort();
  await assert.rejects(request);
  const after = await waitForMetrics(idle, 5_000, 'the cancelled sequence leaves');
  assert.equal(await cancelled(), before + 1);
  assert.ok(after.dseek_generation_tokens_total - generatedBefore < 1900, 'stopped early');
});

test('metrics count requests, tokens and latencies', async () => {
  const before = await metrics();
  const c = chatCases[0];
  await openai.chat.completions.create(greedy(c.messages));
  const after = await metrics();
  const delta = (name) => after[name] - (before[name] ?? 0);
  assert.equal(delta('dseek_http_responses_total{status="200"}'), 1);
  assert.equal(delta('dseek_prompt_tokens_total'), c.prompt_ids.length);
  assert.equal(delta('dseek_generation_tokens_total'), c.greedy_ids.length);
  assert.equal(delta('dseek_time_to_first_token_seconds_count'), 1);
  assert.equal(delta('dseek_time_per_output_token_seconds_count'), 1);
  assert.equal(delta('dseek_e2e_request_latency_seconds_count'), 1);
  assert.ok(delta('dseek_e2e_request_latency_seconds_sum') > 0);
  assert.equal(after['dseek_time_to_first_token_seconds_bucket{le="+Inf"}'], after.dseek_time_to_first_token_seconds_count);
  assert.ok(after.dseek_kv_cache_capacity_tokens >= 2048);
  assert.equal(after.dseek_kv_cache_usage_ratio, 0);
});
