// The DeepSeek-V3.2 chat template on the same model: reasoning goes to reasoning_content, tools
// and tool-call history reach the template.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { model, v32Client } from './helpers.mjs';

const openai = v32Client();
const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
const tools = [{
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather of a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
}];

test('with thinking on, the output is reasoning (this model never closes </think>)', async () => {
  const request = { model, messages, temperature: 0, max_tokens: 12, chat_template_kwargs: { thinking: true } };
  const completion = await openai.chat.completions.create(request);
  const { message } = completion.choices[0];
  assert.ok(message.reasoning_content.length > 0);
  assert.equal(message.content, '');

  let reasoning = '';
  let content = '';
  for await (const chunk of await openai.chat.completions.create({ ...request, stream: true })) {
    reasoning += chunk.choices[0]?.delta?.reasoning_content ?? '';
    content += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.equal(reasoning, message.reasoning_content);
  assert.equal(content, '');
});

test('with thinking off, the output is content', async () => {
  const completion = await openai.chat.completions.create({ model, messages, temperature: 0, max_tokens: 12 });
  const { message } = completion.choices[0];
  assert.ok(message.content.length > 0);
  assert.equal(message.reasoning_content, '');
});

test('tools are rendered into the prompt', async () => {
  const base = { model, messages, temperature: 0, max_tokens: 1 };
  const without = await openai.chat.completions.create(base);
  const withTools = await openai.chat.completions.create({ ...base, tools, tool_choice: 'auto' });
  assert.ok(withTools.usage.prompt_tokens > without.usage.prompt_tokens + 50,
    `${withTools.usage.prompt_tokens} vs ${without.usage.prompt_tokens}`);
  const none = await openai.chat.completions.create({ ...base, tools, tool_choice: 'none' });
  assert.equal(none.usage.prompt_tokens, withTools.usage.prompt_tokens);
});

test('a tool-call round trip renders and continues', async () => {
  const history = [
    ...messages,
    { role: 'assistant', content: null, tool_calls: [
      { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: '{"sky": "clear", "celsius": 21}' },
  ];
  const completion = await openai.chat.completions.create({ model, messages: history, tools, temperature: 0, max_tokens: 4 });
  assert.equal(completion.choices[0].finish_reason, 'length');
  const first = await openai.chat.completions.create({ model, messages, tools, temperature: 0, max_tokens: 1 });
  assert.ok(completion.usage.prompt_tokens > first.usage.prompt_tokens);
});
