// Overview: requests, tokens, errors, latency and (when the usage API reports it) spend over a
// chosen range, as charts; the busiest models and keys.

import { h, replace } from '../dom.js';
import { v0 } from '../api.js';
import { barList, timeChart } from '../chart.js';
import { select } from '../forms.js';
import { count, ms, rangeQuery, RANGES, usd } from '../format.js';

function card(label, value, id) {
  return h('div', { class: 'card', id }, h('span', { class: 'label' }, label), h('span', { class: 'value' }, value));
}

export default async function overviewPage(main) {
  const range = select('range', RANGES.map((r) => [r.value, r.label]), '24h');
  const content = h('div', { class: 'overview' }, h('p', { class: 'muted' }, 'Loading…'));
  async function load() {
    const query = rangeQuery(range.value);
    const [byModel, byKey] = await Promise.all([
      v0('GET', `/usage?${query}&groupBy=model`),
      v0('GET', `/usage?${query}&groupBy=key`),
    ]);
    const t = byModel.totals;
    const spend = t.costUsd !== undefined;
    const series = byModel.series;
    replace(content,
      h('div', { class: 'cards' },
        card('Requests', count(t.requests), 'total-requests'), card('Errors', count(t.errors), 'total-errors'),
        card('Input tokens', count(t.inputTokens)), card('Output tokens', count(t.outputTokens)),
        card('Latency p50', ms(t.latencyMs.p50)), card('Latency p99', ms(t.latencyMs.p99)),
        spend ? card('Spend', usd(t.costUsd), 'total-spend') : null),
      h('div', { class: 'charts' },
        timeChart('Requests', series.map((b) => ({ start: b.start, value: b.requests })), count),
        timeChart('Tokens', series.map((b) => ({ start: b.start, value: b.totalTokens })), count),
        timeChart('Errors', series.map((b) => ({ start: b.start, value: b.errors })), count),
        timeChart('Median latency', series.map((b) => ({ start: b.start, value: b.latencyMsP50 })), ms),
        spend ? timeChart('Spend', series.map((b) => ({ start: b.start, value: b.costUsd ?? 0 })), usd) : null),
      h('div', { class: 'charts' },
        barList('Top models (requests)', (byModel.groups || []).slice(0, 10).map((g) => ({ label: g.model, value: g.requests })), count),
        barList('Top keys (requests)', (byKey.groups || []).slice(0, 10).map((g) => ({ label: g.key, value: g.requests })), count)));
  }
  range.addEventListener('change', () => load().catch((e) => replace(content, h('p', { class: 'notice error' }, e.message))));
  replace(main, h('div', { class: 'page-header' }, h('h1', null, 'Overview'), h('label', null, 'Range ', range)), content);
  await load().catch((e) => replace(content, h('p', { class: 'notice error' }, e.message)));
}
