// POST /v1/completions: text and token-id prompts, streamed or not, with logprobs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { client, completionCases, e2e, model } from './helpers.mjs';

const openai = client();

test('text prompts continue like the reference (BOS added)', async () => {
  for (const c of completionCases) {
    const completion = await openai.completions.create(
      { model, prompt: c.prompt, temperature: 0, max_tokens: e2e.max_new_tokens });
    assert.equal(completion.object, 'text_completion');
    assert.match(completion.id, /^cmpl-/);
    assert.equal(completion.choices[0].text, c.greedy_text);
    assert.equal(completion.usage.prompt_tokens, c.prompt_ids.length);
    assert.equal(completion.usage.completion_tokens, c.greedy_ids.length);
  }
});

test('token-id prompts give the same text', async () => {
  const c = completionCases[0];
  const completion = await openai.completions.create(
    { model, prompt: c.prompt_ids, temperature: 0, max_tokens: e2e.max_new_tokens });
  assert.equal(completion.choices[0].text, c.greedy_text);
});

test('streaming completions, with usage', async () => {
  const c = completionCases[1];
  const stream = await openai.completions.create({
    model, prompt: c.prompt, temperature: 0, max_tokens: e2e.max_new_tokens, stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let finish;
  let usage;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'text_completion');
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      text += choice.text;
      finish = choice.finish_reason ?? finish;
    }
  }
  assert.equal(text, c.greedy_text);
  assert.equal(finish, 'length');
  assert.equal(usage.total_tokens, c.prompt_ids.length + c.greedy_ids.length);
});

test('completion logprobs: tokens, offsets and top alternatives', async () => {
  const completion = await openai.completions.create(
    { model, prompt: completionCases[0].prompt, temperature: 0, max_tokens: 6, logprobs: 2 });
  const { text, logprobs } = completion.choices[0];
  assert.equal(logprobs.tokens.length, 6);
  assert.equal(logprobs.tokens.join(''), text);
  assert.equal(logprobs.token_logprobs.length, 6);
  assert.deepEqual(logprobs.text_offset, logprobs.tokens.map((_, i) =>
    Buffer.byteLength(logprobs.tokens.slice(0, i).join(''))));
  for (let i = 0; i < 6; ++i) {
    const top = logprobs.top_logprobs[i];
    assert.ok(Object.keys(top).length >= 1 && Object.keys(top).length <= 2);
    assert.equal(top[logprobs.tokens[i]], logprobs.token_logprobs[i]);  // greedy: chosen is the top
  }
});

test('ignore_eos generates exactly max_tokens', async () => {
  const completion = await openai.completions.create(
    { model, prompt: 'x', max_tokens: 40, ignore_eos: true });
  assert.equal(completion.usage.completion_tokens, 40);
  assert.equal(completion.choices[0].finish_reason, 'length');
});
