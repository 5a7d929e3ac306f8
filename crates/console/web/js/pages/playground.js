// Playground: chat with a model endpoint through the inference plane (relayed by the console's
// server, which calls it with a short-lived token for this session), the answer streamed as it
// arrives, with tokens, latency and cost (at the model's price, as metered) under each answer.

import { h, replace } from '../dom.js';
import { send, v0 } from '../api.js';
import { field, notice } from '../forms.js';
import { count, ms, usd } from '../format.js';

/** Reads an SSE body, calling `onData` with each `data:` payload as it completes. */
async function readEvents(body, onData) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
      for (const line of event.split(/\r?\n/)) {
        if (line.startsWith('data:')) onData(line.slice(5).trim());
      }
    }
  }
}

export default async function playgroundPage(main) {
  const message = notice();
  const model = h('input', { name: 'model', list: 'model-names', placeholder: 'model endpoint name', required: true, id: 'playground-model' });
  const names = h('datalist', { id: 'model-names' });
  const system = h('textarea', { name: 'system', rows: 2, placeholder: 'System prompt (optional)' });
  const prompt = h('textarea', { name: 'prompt', rows: 3, placeholder: 'Say something…', required: true, id: 'playground-prompt' });
  const sendButton = h('button', { type: 'submit', id: 'playground-send' }, 'Send');
  const clear = h('button', { type: 'button', class: 'secondary' }, 'New conversation');
  const transcript = h('div', { class: 'transcript', id: 'transcript', 'aria-live': 'polite' });
  const history = [];

  async function suggest() {
    const q = model.value.trim();
    const query = new URLSearchParams({ limit: '20' });
    if (q.length >= 2) query.set('q', q);
    try {
      const page = await v0('GET', `/models?${query}`);
      replace(names, page.data.map((m) => h('option', { value: m.metadata.name }, m.metadata.displayName || m.spec.runtime?.type || '')));
    } catch { /* suggestions only */ }
  }
  model.addEventListener('input', suggest);
  clear.addEventListener('click', () => { history.length = 0; replace(transcript); });

  async function ask(event) {
    event.preventDefault();
    message.clear();
    const text = prompt.value.trim();
    if (!text || !model.value.trim()) return;
    history.push({ role: 'user', content: text });
    transcript.append(h('div', { class: 'turn user' }, h('span', { class: 'who' }, 'You'), h('p', null, text)));
    const answer = h('p', { class: 'answer' });
    const stats = h('div', { class: 'stats muted' }, 'waiting…');
    transcript.append(h('div', { class: 'turn assistant' }, h('span', { class: 'who' }, model.value.trim()), answer, stats));
    prompt.value = '';
    sendButton.disabled = true;
    const started = performance.now();
    let firstToken = null;
    let usage = null;
    let cost = null;
    let content = '';
    try {
      const messages = system.value.trim() ? [{ role: 'system', content: system.value.trim() }, ...history] : [...history];
      const response = await send('POST', `/console/api/playground/${encodeURIComponent(model.value.trim())}`,
        { messages, stream: true, stream_options: { include_usage: true } });
      await readEvents(response.body, (data) => {
        if (data === '[DONE]') return;
        let chunk;
        try { chunk = JSON.parse(data); } catch { return; }
        const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
        if (delta && delta.content) {
          if (firstToken === null) firstToken = performance.now() - started;
          content += delta.content;
          answer.textContent = content;
        }
        if (chunk.usage) usage = chunk.usage;
      });
      // Priced by the gateway at the model's price, as its usage record is; null: no known price.
      if (usage) {
        const priced = await send('POST', `/console/api/playground/${encodeURIComponent(model.value.trim())}/cost`, usage)
          .then((r) => r.json()).catch(() => null);
        cost = priced ? priced.costUsd : null;
      }
      history.push({ role: 'assistant', content });
      const total = performance.now() - started;
      replace(stats, [
        usage ? `${count(usage.prompt_tokens)} in · ${count(usage.completion_tokens)} out tokens` : 'no usage reported',
        ` · first token ${ms(firstToken === null ? null : Math.round(firstToken))} · total ${ms(Math.round(total))}`,
        usage ? ` · ${cost === null ? 'no known price' : usd(cost)}` : '',
      ].join(''));
    } catch (error) {
      history.pop();
      replace(stats, '');
      answer.classList.add('error');
      answer.textContent = error.message;
    } finally {
      sendButton.disabled = false;
    }
  }

  const chat = h('form', { class: 'form playground' }, field('Model', model), names, field('System', system), field('Message', prompt),
    h('div', { class: 'actions' }, sendButton, clear));
  chat.addEventListener('submit', ask);
  replace(main, h('div', { class: 'page-header' }, h('h1', null, 'Playground')), message.element,
    h('p', { class: 'muted' }, 'Calls go through the inference plane as this session\'s credential, and count in its usage.'), chat, transcript);
  suggest();
}
