// POST /v1/chat/completions through the official client: greedy output equals the fixture's
// reference continuation, streamed or not.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chatCases, client, greedy, model } from './helpers.mjs';

const openai = client();

test('non-streaming chat matches the reference greedy continuation', async () => {
  for (const c of chatCases) {
    const completion = await openai.chat.completions.create(greedy(c.messages));
    assert.equal(completion.object, 'chat.completion');
    assert.match(completion.id, /^chatcmpl-/);
    assert.equal(completion.model, model);
    assert.equal(completion.choices.length, 1);
    const [choice] = completion.choices;
    assert.equal(choice.message.role, 'assistant');
    assert.equal(choice.message.content, c.greedy_text);
    assert.equal(choice.finish_reason, c.greedy_ids.length < 24 ? 'stop' : 'length');
    assert.deepEqual(completion.usage, {
      prompt_tokens: c.prompt_ids.length,
      completion_tokens: c.greedy_ids.length,
      total_tokens: c.prompt_ids.length + c.greedy_ids.length,
    });
  }
});

test('streaming chat sends the same text in chunks, then usage', async () => {
  const c = chatCases[1];
  const stream = await openai.chat.completions.create(
    greedy(c.messages, { stream: true, stream_options: { include_usage: true } }));
  let text = '';
  let role;
  let finish;
  let usage;
  let contentChunks = 0;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) {
      assert.deepEqual(chunk.choices, []);
      usage = chunk.usage;
      continue;
    }
    const [choice] = chunk.choices;
    if (choice.delta.role) role = choice.delta.role;
    if (choice.delta.content) {
      text += choice.delta.content;
      ++contentChunks;
    }
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  assert.equal(role, 'assistant');
  assert.equal(text, c.greedy_text);
  assert.ok(contentChunks > 1, 'streamed in several chunks');
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, c.greedy_ids.length);
  assert.equal(usage.prompt_tokens, c.prompt_ids.length);
});

test('stop strings end the text before them', async () => {
  const c = chatCases[0];
  const word = ' Sirius';
  const at = c.greedy_text.indexOf(word);
  assert.ok(at > 0, 'the fixture continuation contains the stop word');
  for (const stream of [false, true]) {
    const request = greedy(c.messages, { stop: [word, 'never appears'], stream });
    let text = '';
    let finish;
    if (stream) {
      for await (const chunk of await openai.chat.completions.create(request)) {
        text += chunk.choices[0]?.delta?.content ?? '';
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
    } else {
      const completion = await openai.chat.completions.create(request);
      text = completion.choices[0].message.content;
      finish = completion.choices[0].finish_reason;
    }
    assert.equal(text, c.greedy_text.slice(0, at), `stream: ${stream}`);
    assert.equal(finish, 'stop');
  }
});

test('max_completion_tokens limits the output', async () => {
  const completion = await openai.chat.completions.create(
    { model, messages: chatCases[0].messages, temperature: 0, max_completion_tokens: 3 });
  assert.equal(completion.usage.completion_tokens, 3);
  assert.equal(completion.choices[0].finish_reason, 'length');
});

test('logprobs report the chosen token and the most likely ones', async () => {
  const completion = await openai.chat.completions.create(
    greedy(chatCases[0].messages, { max_tokens: 5, logprobs: true, top_logprobs: 3 }));
  const entries = completion.choices[0].logprobs.content;
  assert.equal(entries.length, 5);
  let text = '';
  for (const entry of entries) {
    assert.equal(entry.top_logprobs.length, 3);
    assert.ok(entry.logprob <= 0);
    // Greedy: the chosen token is the most likely one.
    assert.equal(entry.token, entry.top_logprobs[0].token);
    assert.equal(entry.logprob, entry.top_logprobs[0].logprob);
    assert.ok(entry.top_logprobs[0].logprob >= entry.top_logprobs[1].logprob);
    assert.deepEqual(entry.bytes, [...Buffer.from(entry.token, 'utf8')]);
    text += entry.token;
  }
  assert.equal(text, completion.choices[0].message.content);
});

test('a seed makes sampling repeatable', async () => {
  const request = { model, messages: chatCases[0].messages, temperature: 1, top_p: 0.9, top_k: 50, seed: 1234, max_tokens: 12 };
  const a = await openai.chat.completions.create(request);
  const b = await openai.chat.completions.create(request);
  assert.equal(a.choices[0].message.content, b.choices[0].message.content);
  const c = await openai.chat.completions.create({ ...request, seed: 99 });
  assert.notEqual(a.choices[0].message.content, c.choices[0].message.content);
});

test('logit_bias -100 bans a token', async () => {
  const c = chatCases[0];
  const plain = await openai.chat.completions.create(greedy(c.messages, { max_tokens: 1 }));
  const banned = await openai.chat.completions.create(
    greedy(c.messages, { max_tokens: 1, logit_bias: { [c.greedy_ids[0]]: -100 } }));
  assert.equal(plain.choices[0].message.content, c.greedy_text.slice(0, plain.choices[0].message.content.length));
  assert.notEqual(banned.choices[0].message.content, plain.choices[0].message.content);
});

test('models lists the served model', async () => {
  const list = await openai.models.list();
  const ids = [];
  for await (const m of list) ids.push(m.id);
  assert.deepEqual(ids, [model]);
  const card = await openai.models.retrieve(model);
  assert.equal(card.id, model);
  assert.equal(card.object, 'model');
});
