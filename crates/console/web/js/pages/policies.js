// Policies: maxToken (tokens, requests, per key) and location, with the models each applies to.

import { h, replace } from '../dom.js';
import { v0, holds } from '../api.js';
import { pagedTable, serverPages } from '../list.js';
import { checkbox, deleteButton, field, form, input, notice, pageHeader, panelButton, select } from '../forms.js';

function describe(policy) {
  const spec = policy.spec || {};
  if (spec.type === 'maxToken' && spec.maxTokens) {
    const m = spec.maxTokens;
    const limits = ['input', 'output', 'total', 'requests'].filter((k) => m[k]).map((k) => `${k} ${m[k]}`);
    if (m.costUsd) limits.push(`$${m.costUsd}`);
    return `${limits.join(', ') || 'no limit'} per ${m.step || 1} ${m.granularity || 'minute'}${m.perKey ? ', per key' : ''}`;
  }
  if (spec.type === 'location') return (spec.locations || []).map((l) => `${l.type} ${l.name}`).join(', ');
  if (spec.type === 'flavor') return (spec.flavors || []).map((f) => f.name).join(', ');
  return '–';
}

function policyForm(saved) {
  const type = select('type', [['maxToken', 'maxToken: token and request limits'], ['location', 'location: where it may run']], 'maxToken');
  const maxToken = h('div', null,
    h('div', { class: 'row' },
      field('Input tokens', input('input', { type: 'number', min: 0 })),
      field('Output tokens', input('output', { type: 'number', min: 0 })),
      field('Total tokens', input('total', { type: 'number', min: 0 })),
      field('Requests', input('requests', { type: 'number', min: 0 }))),
    h('div', { class: 'row' },
      field('Window', input('step', { type: 'number', value: '1', min: 1 })),
      field('Unit', select('granularity', ['minute', 'hour', 'day', 'month'], 'minute'))),
    checkbox('perKey', false, 'Count each calling key separately'));
  const location = h('div', { hidden: true }, h('div', { class: 'row' },
    field('Location type', select('locationType', ['country', 'continent', 'location'], 'country')),
    field('Location name', input('locationName', { placeholder: 'us' }))));
  type.addEventListener('change', () => {
    maxToken.hidden = type.value !== 'maxToken';
    location.hidden = type.value !== 'location';
  });
  return form([field('Name', input('name', { required: true, placeholder: 'tokens-per-minute' })), field('Type', type), maxToken, location],
    async (values) => {
      const spec = { type: values.type, resourceTypes: ['model'] };
      if (values.type === 'maxToken') {
        const limits = { step: Number(values.step || 1), granularity: values.granularity, perKey: values.perKey };
        for (const k of ['input', 'output', 'total', 'requests']) if (values[k]) limits[k] = Number(values[k]);
        spec.maxTokens = limits;
      } else {
        spec.locations = [{ type: values.locationType, name: values.locationName }];
      }
      saved(await v0('POST', '/policies', { metadata: { name: values.name }, spec }));
    }, 'Create policy');
}

export default async function policiesPage(main) {
  const message = notice();
  let table = null;
  const newButton = panelButton('New policy', 'New policy', policyForm, (p) => {
    message.show(`Policy ${p.metadata.name} created.`);
    table.reload();
  }, { hidden: !holds('policies:create') });
  table = pagedTable({
    label: 'policies',
    fetchPage: serverPages('/policies'),
    empty: 'No policy yet: policies limit tokens and requests, or where models run.',
    columns: [
      { title: 'Name', cell: (p) => h('strong', null, p.metadata.name) },
      { title: 'Type', cell: (p) => p.spec.type || '–' },
      { title: 'Rule', cell: describe },
      { title: 'Applies to', cell: (p) => {
        const cell = h('span', { class: 'muted' }, '…');
        v0('GET', `/policies/${encodeURIComponent(p.metadata.name)}/usages`)
          .then((u) => replace(cell, (u.models || []).map((m) => m.name).join(', ') || 'no model'))
          .catch((e) => replace(cell, e.message));
        return cell;
      } },
      { title: '', class: 'row-actions', cell: (p) => deleteButton('Delete', `/policies/${encodeURIComponent(p.metadata.name)}`,
        `Policy ${p.metadata.name} deleted.`, message, () => table.reload()) },
    ],
  });
  replace(main, pageHeader('Policies', newButton), message.element, table.element);
}
