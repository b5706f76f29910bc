// Every error case answers in OpenAI's shape, with the right status, and the server lives on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';
import { baseURL, chatCases, client, errorOf, maxBodyBytes, model, raw, root } from './helpers.mjs';

const openai = client();
const messages = chatCases[0].messages;

async function rejects(promise, status, check = () => {}) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof OpenAI.APIError, String(error));
    assert.equal(error.status, status, error.message);
    check(error);
    return true;
  });
}

test('401 for a wrong or missing API key', async () => {
  await rejects(client({ apiKey: 'wrong' }).chat.completions.create({ model, messages }), 401, (e) => {
    assert.ok(e instanceof OpenAI.AuthenticationError);
    assert.equal(e.code, 'invalid_api_key');
  });
  const missing = await raw('/chat/completions', { body: JSON.stringify({ model, messages }), headers: { authorization: '' } });
  assert.equal(missing.status, 401);
  errorOf(missing.text);
  const models = await raw('/models', { method: 'GET', headers: { authorization: 'Bearer nope' } });
  assert.equal(models.status, 401);
});

test('400 for malformed JSON and bodies that are not objects', async () => {
  for (const body of ['{"model": ', 'not json', '[1, 2]', '"text"', '', '{"messages": [}']) {
    const response = await raw('/chat/completions', { body });
    assert.equal(response.status, 400, body);
    assert.match(response.headers.get('content-type'), /application\/json/);
    const error = errorOf(response.text);
    assert.equal(error.type, 'invalid_request_error');
    assert.equal(error.param, null);
  }
});

test('400 names the invalid field', async () => {
  const cases = [
    [{ model, messages, temperature: 5 }, 'temperature'],
    [{ model, messages, top_p: 0 }, 'top_p'],
    [{ model, messages, max_tokens: 0 }, 'max_tokens'],
    [{ model, messages, stop: [1] }, 'stop'],
    [{ model, messages, n: 3 }, 'n'],
    [{ model, messages, logprobs: true, top_logprobs: 50 }, 'top_logprobs'],
    [{ model, messages, stream_options: { include_usage: true } }, 'stream_options'],
    [{ model, messages: [] }, 'messages'],
    [{ model, messages: [{ role: 'robot', content: 'hi' }] }, 'messages[0].role'],
    [{ model, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] },
      'messages[0].content[0].type'],
    [{ model, messages, tools: [{ type: 'function', function: {} }] }, 'tools[0].function.name'],
    [{ model, messages, logit_bias: { 999999999: 1 } }, 'logit_bias.999999999'],
  ];
  for (const [body, param] of cases) {
    await rejects(openai.chat.completions.create(body), 400, (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.equal(e.param, param, e.message);
      assert.ok(e.message.includes(param), e.message);
    });
  }
  await rejects(openai.completions.create({ model, prompt: [1, -5] }), 400, (e) => assert.equal(e.param, 'prompt[1]'));
  const missing = await raw('/chat/completions', { body: JSON.stringify({ model }) });
  assert.equal(missing.status, 400);
  assert.equal(errorOf(missing.text).param, 'messages');
});

test('404 for unknown models and routes', async () => {
  await rejects(openai.chat.completions.create({ model: 'gpt-4o', messages }), 404, (e) => {
    assert.ok(e instanceof OpenAI.NotFoundError);
    assert.equal(e.code, 'model_not_found');
    assert.equal(e.param, 'model');
  });
  await rejects(openai.models.retrieve('gpt-4o'), 404);
  for (const [method, path] of [['GET', '/nope'], ['POST', '/embeddings'], ['GET', '/chat/completions']]) {
    const response = await raw(path, { method, body: method === 'POST' ? '{}' : undefined });
    assert.equal(response.status, 404, `${method} ${path}`);
    assert.equal(errorOf(response.text).code, 'unknown_url');
  }
});

test('400 for a prompt longer than the context', async () => {
  const card = await openai.models.retrieve(model);
  const prompt = Array.from({ length: card.max_model_len + 10 }, (_, i) => 100 + (i % 1000));
  await rejects(openai.completions.create({ model, prompt, max_tokens: 1 }), 400, (e) => {
    assert.equal(e.code, 'context_length_exceeded');
    assert.equal(e.param, 'prompt');
  });
  const long = 'hello '.repeat(card.max_model_len);
  await rejects(openai.chat.completions.create({ model, messages: [{ role: 'user', content: long }] }), 400, (e) => {
    assert.equal(e.code, 'context_length_exceeded');
    assert.equal(e.param, 'messages');
  });
  await rejects(openai.completions.create({ model, prompt: 'hi', max_tokens: card.max_model_len }), 400, (e) => {
    assert.equal(e.code, 'context_length_exceeded');
    assert.equal(e.param, 'max_tokens');
  });
});

test('413 for a body over the size limit', async () => {
  const content = 'x'.repeat(maxBodyBytes + 1);
  const response = await raw('/chat/completions', { body: JSON.stringify({ model, messages: [{ role: 'user', content }] }) });
  assert.equal(response.status, 413);
  assert.equal(errorOf(response.text).code, 'request_too_large');
});

test('the server survives garbage and still answers', async () => {
  const garbage = ['\u0000\u0001', '{"messages": [{"role": "user", "content": "\ud800"}], "max_tokens": 1}', '{'.repeat(10000),
    JSON.stringify({ model, messages: [{ role: 'user', content: 'hi', extra: { a: [[[[[]]]]] } }], max_tokens: 1 })];
  for (const body of garbage) {
    const response = await raw('/chat/completions', { body });
    assert.ok(response.status === 200 || response.status === 400, `${response.status} ${response.text}`);
  }
  const health = await fetch(`${root}/health`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });
  assert.ok(baseURL.startsWith(root));
});
