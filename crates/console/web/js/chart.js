// Charts drawn as SVG from the numbers, with no chart library: a bar per bucket of a usage
// series, and horizontal bars for the busiest models or keys. Labels are SVG text nodes.

import { h, s } from './dom.js';

const WIDTH = 640;
const HEIGHT = 180;
const PAD = { left: 56, right: 8, top: 12, bottom: 28 };

/**
 * Bars over time. `points`: `[{start, value}]` (start: RFC 3339); `format`: value -> text.
 * Buckets without a value (null) are gaps.
 */
export function timeChart(title, points, format = String) {
  const values = points.map((p) => p.value ?? 0);
  // The highest bar fills the plot, whatever the unit (a spend chart's may be a fraction of a
  // cent); an empty chart is scaled to 1.
  const highest = Math.max(0, ...values);
  const max = highest > 0 ? highest : 1;
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const step = plotWidth / Math.max(points.length, 1);
  const bars = points.map((point, i) => {
    if (point.value === null || point.value === undefined) return null;
    const height = (point.value / max) * plotHeight;
    return s('rect', {
      x: (PAD.left + i * step + step * 0.1).toFixed(1), y: (PAD.top + plotHeight - height).toFixed(1),
      width: Math.max(step * 0.8, 1).toFixed(1), height: Math.max(height, point.value > 0 ? 1 : 0).toFixed(1), class: 'bar',
    }, s('title', null, `${new Date(point.start).toISOString().slice(0, 16).replace('T', ' ')} UTC: ${format(point.value)}`));
  });
  const first = points[0] ? new Date(points[0].start).toISOString().slice(5, 16).replace('T', ' ') : '';
  const last = points.length ? new Date(points[points.length - 1].start).toISOString().slice(5, 16).replace('T', ' ') : '';
  const total = values.reduce((a, b) => a + b, 0);
  const svg = s('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: 'chart', role: 'img', 'aria-label': title },
    s('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: PAD.top + plotHeight, y2: PAD.top + plotHeight, class: 'axis' }),
    s('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: PAD.top, y2: PAD.top, class: 'grid' }),
    s('text', { x: PAD.left - 6, y: PAD.top + 4, class: 'tick end' }, format(max)),
    s('text', { x: PAD.left - 6, y: PAD.top + plotHeight, class: 'tick end' }, format(0)),
    s('text', { x: PAD.left, y: HEIGHT - 8, class: 'tick' }, first),
    s('text', { x: WIDTH - PAD.right, y: HEIGHT - 8, class: 'tick end' }, last),
    bars);
  return h('figure', { class: 'chart-box', 'data-total': total }, h('figcaption', null, title), svg);
}

/** Horizontal bars: `items`: `[{label, value}]`, the largest first. */
export function barList(title, items, format = String) {
  const max = Math.max(1, ...items.map((i) => i.value));
  return h('figure', { class: 'chart-box' }, h('figcaption', null, title),
    items.length === 0 ? h('p', { class: 'muted' }, 'No requests in this range.') :
      h('ol', { class: 'bar-list' }, items.map((item) => {
        const bar = h('span', { class: 'fill' });
        bar.style.width = `${(item.value / max) * 100}%`;
        return h('li', null, h('span', { class: 'label' }, item.label), h('span', { class: 'track' }, bar),
          h('span', { class: 'value' }, format(item.value)));
      })));
}
