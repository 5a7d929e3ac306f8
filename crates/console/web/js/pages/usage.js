// Usage explorer: one workspace's usage by model, key and time, as a chart and a table, with
// CSV export of the table.

import { h, replace } from '../dom.js';
import { v0 } from '../api.js';
import { timeChart } from '../chart.js';
import { field, input, select } from '../forms.js';
import { count, ms, rangeQuery, RANGES, usd } from '../format.js';

const METRICS = [['requests', 'Requests'], ['totalTokens', 'Tokens'], ['errors', 'Errors'], ['latencyMsP50', 'Median latency'], ['costUsd', 'Spend (USD)']];

/** A CSV field: quoted, and never read as a formula by a spreadsheet. */
function csvField(value) {
  let text = value === null || value === undefined ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return `"${text.replaceAll('"', '""')}"`;
}

export default async function usagePage(main) {
  const range = select('range', RANGES.map((r) => [r.value, r.label]), '24h');
  const groupBy = select('groupBy', [['model', 'By model'], ['key', 'By key'], ['model,key', 'By model and key']], 'model');
  const metric = select('metric', METRICS, 'requests');
  const model = input('model', { placeholder: 'all models' });
  const key = input('key', { placeholder: 'all keys (ak_… or sa_…)' });
  const apply = h('button', { type: 'button' }, 'Show');
  const exportButton = h('button', { type: 'button', class: 'secondary', id: 'export-csv' }, 'Export CSV');
  const content = h('div');
  let rows = [];
  let columns = [];

  async function load() {
    const query = rangeQuery(range.value);
    query.set('groupBy', groupBy.value);
    if (model.value.trim()) query.set('model', model.value.trim());
    if (key.value.trim()) query.set('key', key.value.trim());
    const report = await v0('GET', `/usage?${query}`);
    const spend = report.totals.costUsd !== undefined;
    const chosen = metric.value === 'costUsd' && !spend ? 'requests' : metric.value;
    const format = chosen === 'latencyMsP50' ? ms : chosen === 'costUsd' ? usd : count;
    const label = METRICS.find(([v]) => v === chosen)[1];
    columns = [...groupBy.value.split(','), ...(groupBy.value.includes('key') ? ['subject'] : []),
      'requests', 'errors', 'inputTokens', 'outputTokens', 'totalTokens', ...(spend ? ['costUsd'] : [])];
    rows = report.groups || [];
    replace(content,
      h('p', { class: 'muted' }, `${count(report.totals.requests)} requests, ${count(report.totals.totalTokens)} tokens, ${count(report.totals.errors)} errors,`,
        ` p50 ${ms(report.totals.latencyMs.p50)}, p99 ${ms(report.totals.latencyMs.p99)}`, spend ? `, ${usd(report.totals.costUsd)}` : '',
        ` · buckets of ${report.interval}`),
      timeChart(`${label} per ${report.interval}`, report.series.map((b) => ({ start: b.start, value: b[chosen] ?? null })), format),
      h('table', { id: 'usage-table' },
        h('thead', null, h('tr', null, columns.map((c) => h('th', { class: /Tokens|requests|errors|cost/.test(c) ? 'num' : null }, c)))),
        h('tbody', null, rows.length ? rows.map((row) => h('tr', null, columns.map((c) =>
          h('td', { class: typeof row[c] === 'number' ? 'num' : null }, c === 'costUsd' ? usd(row[c]) : typeof row[c] === 'number' ? count(row[c]) : row[c] ?? '–'))))
          : h('tr', null, h('td', { colspan: columns.length, class: 'muted' }, 'No requests in this range.')))),
      report.groupsTruncated ? h('p', { class: 'muted' }, 'Only the 1000 busiest groups are listed.') : null);
  }

  exportButton.addEventListener('click', () => {
    const text = [columns.map(csvField).join(','), ...rows.map((row) => columns.map((c) => csvField(row[c])).join(','))].join('\r\n');
    const link = h('a', { href: '#', download: `modelgate-usage-${new Date().toISOString().slice(0, 10)}.csv` });
    link.href = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  });
  const show = () => load().catch((e) => replace(content, h('p', { class: 'notice error' }, e.message)));
  apply.addEventListener('click', show);
  for (const control of [range, groupBy, metric]) control.addEventListener('change', show);
  replace(main, h('div', { class: 'page-header' }, h('h1', null, 'Usage'), h('div', { class: 'buttons' }, exportButton)),
    h('div', { class: 'filters row' }, field('Range', range), field('Breakdown', groupBy), field('Chart', metric),
      field('Model', model), field('Key', key), apply),
    content);
  await show();
}
