// Integration connections: create one per integration with the secret fields its descriptor
// names (typed in, never shown back: the API answers them masked), replace a secret, see which
// models use a connection, delete (the API refuses while models use it, and says which).

import { h, replace } from '../dom.js';
import { call, v0, holds } from '../api.js';
import { pagedTable, serverPages } from '../list.js';
import { deleteButton, field, form, input, notice, pageHeader, panel, panelButton, select } from '../forms.js';
import { RUNTIME_TYPES } from './models.js';
import { time } from '../format.js';

async function descriptor(integration) {
  const infos = (await v0('GET', `/integrations/${encodeURIComponent(integration)}`)).additionalInfos || {};
  return {
    secrets: (infos.secrets || '').split(',').map((s) => s.trim()).filter(Boolean),
    urlRequired: (infos.baseUrl || '').startsWith('required'),
    baseUrl: infos.baseUrl || '',
  };
}

function createForm(saved) {
  const integration = select('integration', RUNTIME_TYPES, 'openai');
  const shaped = h('div');
  async function shape() {
    const d = await descriptor(integration.value);
    replace(shaped,
      field('Base URL', input('url', { required: d.urlRequired, placeholder: d.urlRequired ? 'https://…' : d.baseUrl }),
        d.urlRequired ? 'Required for this integration.' : 'Leave empty for the provider\'s own endpoint.'),
      d.secrets.map((name) => field(`Secret: ${name}`, input(`secret.${name}`, { type: 'password', required: true, autocomplete: 'new-password' }),
        'Stored sealed; never shown again.')));
  }
  integration.addEventListener('change', () => shape());
  shape();
  return form([
    field('Name', input('name', { required: true, placeholder: 'my-openai' })),
    field('Integration', integration),
    shaped,
  ], async (values) => {
    const secret = {};
    const config = {};
    for (const [key, value] of Object.entries(values)) {
      if (key.startsWith('secret.') && value) secret[key.slice(7)] = value;
    }
    if (values.url) config.url = values.url;
    const body = { metadata: { name: values.name }, spec: { integration: values.integration, config, secret } };
    saved(await v0('POST', '/integrations/connections', body));
  }, 'Create connection');
}

function replaceSecretForm(connection, saved) {
  const names = Object.keys(connection.spec.secret || {});
  return form(names.map((name) => field(`New ${name}`, input(name, { type: 'password', required: true, autocomplete: 'new-password' }))),
    async (values) => {
      const body = structuredClone(connection);
      body.spec.secret = Object.fromEntries(names.map((name) => [name, values[name]]));
      saved(await v0('PUT', `/integrations/connections/${encodeURIComponent(connection.metadata.name)}`, body));
    }, 'Replace secret');
}

async function usedBy(connection, message) {
  try {
    const { models } = await call('GET', `/console/api/connections/${encodeURIComponent(connection.metadata.name)}/models`);
    panel(`Models using ${connection.metadata.name}`, models.length
      ? h('ul', { class: 'plain' }, models.map((m) => h('li', null, m.name)))
      : h('p', { class: 'muted' }, 'No model uses this connection.'));
  } catch (error) {
    message.show(error);
  }
}

export default async function connectionsPage(main) {
  const message = notice();
  let table = null;
  const newButton = panelButton('New connection', 'New connection', createForm, (c) => {
    message.show(`Connection ${c.metadata.name} created.`);
    table.reload();
  }, { id: 'new-connection', hidden: !holds('integrations:create') });
  table = pagedTable({
    label: 'connections',
    fetchPage: serverPages('/integrations/connections'),
    empty: 'No connection yet: a connection holds a provider\'s credentials.',
    columns: [
      { title: 'Name', cell: (c) => h('strong', null, c.metadata.name) },
      { title: 'Integration', cell: (c) => c.spec.integration },
      { title: 'Base URL', cell: (c) => (c.spec.config || {}).url || 'provider default' },
      { title: 'Secrets', cell: (c) => Object.keys(c.spec.secret || {}).map((k) => `${k} ••••`).join(', ') || '–' },
      { title: 'Updated', cell: (c) => time(c.metadata.updatedAt) },
      { title: '', class: 'row-actions', cell: (c) => {
        const models = h('button', { type: 'button', class: 'secondary' }, 'Used by');
        models.addEventListener('click', () => usedBy(c, message));
        const secret = h('button', { type: 'button', class: 'secondary' }, 'Replace secret');
        secret.addEventListener('click', () => {
          const editor = panel(`Replace the secret of ${c.metadata.name}`, replaceSecretForm(c, () => {
            editor.close();
            message.show(`The secret of ${c.metadata.name} was replaced.`);
          }));
        });
        const remove = deleteButton('Delete', `/integrations/connections/${encodeURIComponent(c.metadata.name)}`,
          `Connection ${c.metadata.name} deleted.`, message, () => table.reload());
        return [models, secret, remove];
      } },
    ],
  });
  replace(main, pageHeader('Integration connections', newButton), message.element, table.element);
}
