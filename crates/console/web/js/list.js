// A table paged on the server: each page is one request (`limit`, `cursor`, `q`), so a
// workspace with ten thousand models costs the page what fifty cost.

import { h, replace } from './dom.js';
import { v0 } from './api.js';

/**
 * Pages of a `/v0` list answered as `{data, meta}`. A list the API answers whole (integration
 * connections: the reference defines no paging for them) is paged in the browser instead.
 */
export function serverPages(path) {
  let whole = null;
  return async ({ cursor, q, limit, reload }) => {
    if (whole && !reload) return whole({ cursor, q, limit });
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor) query.set('cursor', cursor);
    if (q) query.set('q', q);
    const page = await v0('GET', `${path}?${query}`);
    if (Array.isArray(page)) {
      whole = localPages(async () => page, (item, text) => JSON.stringify(item.metadata).toLowerCase().includes(text));
      return whole({ cursor, q, limit });
    }
    return { items: page.data, next: page.meta.hasMore ? page.meta.nextCursor : null, total: page.meta.total };
  };
}

/** Pages cut in the browser from a list the API answers whole (API keys). */
export function localPages(load, matches) {
  let all = null;
  return async ({ cursor, q, limit, reload }) => {
    if (all === null || reload) all = await load();
    const found = q ? all.filter((item) => matches(item, q.toLowerCase())) : all;
    const start = cursor ? Number(cursor) : 0;
    const end = start + limit;
    return { items: found.slice(start, end), next: end < found.length ? String(end) : null, total: all.length };
  };
}

/**
 * A searchable, paged table. `columns`: `[{title, cell: item => node or text, class}]`.
 * Returns `{element, reload}`.
 */
export function pagedTable({ fetchPage, columns, empty = 'Nothing here yet.', limit = 50, label }) {
  const body = h('tbody');
  const status = h('span', { class: 'muted' });
  const previous = h('button', { type: 'button', class: 'secondary', disabled: true }, '← Previous');
  const next = h('button', { type: 'button', class: 'secondary', disabled: true }, 'Next →');
  const search = h('input', { type: 'search', placeholder: 'Search (2 characters or more)', 'aria-label': `Search ${label || ''}` });
  const error = h('p', { class: 'error', hidden: true });
  const cursors = [null];
  let page = 0;
  let nextCursor = null;
  let query = '';

  async function load(reload = false) {
    error.hidden = true;
    const started = performance.now();
    try {
      const result = await fetchPage({ cursor: cursors[page], q: query, limit, reload });
      nextCursor = result.next;
      replace(body, result.items.length
        ? result.items.map((item) => h('tr', null, columns.map((c) => h('td', { class: c.class }, c.cell(item)))))
        : h('tr', null, h('td', { colspan: columns.length, class: 'muted' }, query ? 'No match.' : empty)));
      const shown = `${page * limit + (result.items.length ? 1 : 0)}–${page * limit + result.items.length}`;
      replace(status, `${shown} of ${result.total}${query ? ' (filtered)' : ''} · ${Math.round(performance.now() - started)} ms`);
      previous.disabled = page === 0;
      next.disabled = !nextCursor;
    } catch (e) {
      error.hidden = false;
      replace(error, e.message);
    }
  }

  previous.addEventListener('click', () => { page -= 1; load(); });
  next.addEventListener('click', () => { cursors[page + 1] = nextCursor; page += 1; load(); });
  let timer = null;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const text = search.value.trim();
      query = text.length >= 2 ? text : '';
      cursors.length = 1;
      page = 0;
      load();
    }, 250);
  });

  const element = h('div', { class: 'list' },
    h('div', { class: 'list-tools' }, search, status),
    error,
    h('table', null, h('thead', null, h('tr', null, columns.map((c) => h('th', { class: c.class }, c.title)))), body),
    h('div', { class: 'pager' }, previous, next));
  load();
  return { element, reload: () => load(true) };
}
