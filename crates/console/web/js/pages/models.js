// Models: the paged list with status, type and events; create and edit with the fields the
// runtime type calls for (its integration descriptor), connections and policies picked from
// the workspace's; enable, disable and delete.

import { h, replace } from '../dom.js';
import { v0, holds } from '../api.js';
import { pagedTable, serverPages } from '../list.js';
import { badge, checkbox, deleteButton, field, form, input, notice, pageHeader, panel, select } from '../forms.js';
import { time } from '../format.js';

export const RUNTIME_TYPES = ['openai', 'anthropic', 'gemini', 'vertexai', 'mistral', 'deepseek', 'cohere', 'cerebras',
  'xai', 'groq', 'azure-openai-service', 'azure-ai-inference', 'azure-marketplace', 'huggingface', 'hf_private_endpoint',
  'hf_public_endpoint', 'public_model', 'mcp'];

/** Whether a connection of `integration` can serve a model of `type`. */
function serves(integration, type) {
  return integration === type || (integration === 'huggingface' && (type.startsWith('hf_') || type === 'public_model'));
}

/** Every item of a paged list, up to `max` (pickers). */
export async function allOf(path, max = 1000) {
  const items = [];
  let cursor = null;
  do {
    const query = new URLSearchParams({ limit: '200' });
    if (cursor) query.set('cursor', cursor);
    const page = await v0('GET', `${path}?${query}`);
    if (Array.isArray(page)) return page.slice(0, max); // a list the API answers whole
    items.push(...page.data);
    cursor = page.meta.hasMore ? page.meta.nextCursor : null;
  } while (cursor && items.length < max);
  return items;
}

async function integrationInfo(type, box) {
  replace(box, h('span', { class: 'muted' }, 'Loading the integration…'));
  try {
    const integration = await v0('GET', `/integrations/${encodeURIComponent(type)}`);
    const infos = integration.additionalInfos || {};
    replace(box,
      h('strong', null, infos.displayName || type), ' · protocol ', infos.protocol || '–', ' · base URL ', infos.baseUrl || '–',
      h('br'), 'Endpoints: ', Object.keys(integration.endpoints || {}).join(', ') || '–');
  } catch (error) {
    replace(box, h('span', { class: 'error' }, error.message));
  }
}

function modelForm(existing, connections, policies, saved) {
  const spec = existing ? existing.spec : { runtime: { type: 'openai' }, enabled: true };
  const runtime = spec.runtime || {};
  const typeSelect = select('type', RUNTIME_TYPES, runtime.type || 'openai');
  const info = h('p', { class: 'integration-info muted' });
  const connectionBox = h('fieldset', { class: 'choices' });
  const endpointField = field('Endpoint name', input('endpointName', { value: runtime.endpointName }), 'The Hugging Face endpoint to call.');
  const chosen = new Set(spec.integrationConnections || []);
  function shape() {
    const type = typeSelect.value;
    endpointField.hidden = !type.startsWith('hf_');
    const usable = connections.filter((c) => serves(c.spec.integration, type));
    replace(connectionBox, h('legend', null, 'Connections (in fallback order)'),
      usable.length ? usable.map((c) => {
        const box = checkbox(`connection-${c.metadata.name}`, chosen.has(c.metadata.name), c.metadata.name);
        box.querySelector('input').dataset.group = 'connections';
        box.querySelector('input').value = c.metadata.name;
        return box;
      }) : h('p', { class: 'muted' }, `No ${type} connection in this workspace: create one on the Connections page.`));
    integrationInfo(type, info);
  }
  typeSelect.addEventListener('change', shape);
  shape();
  const policyBoxes = policies.map((p) => {
    const box = checkbox(`policy-${p.metadata.name}`, (spec.policies || []).includes(p.metadata.name), `${p.metadata.name} (${p.spec.type})`);
    box.querySelector('input').dataset.group = 'policies';
    box.querySelector('input').value = p.metadata.name;
    return box;
  });
  return form([
    field('Name', input('name', { value: existing ? existing.metadata.name : '', required: true, readonly: !!existing, placeholder: 'my-model' }),
      'Lowercase letters, digits and hyphens; it cannot change.'),
    field('Display name', input('displayName', { value: existing ? existing.metadata.displayName : '' })),
    field('Runtime type', typeSelect), info,
    field('Provider model', input('model', { value: runtime.model, placeholder: 'gpt-4o-mini' })),
    field('Organization', input('organization', { value: runtime.organization })),
    endpointField,
    connectionBox,
    h('fieldset', { class: 'choices' }, h('legend', null, 'Policies'), policyBoxes.length ? policyBoxes : h('p', { class: 'muted' }, 'No policy in this workspace.')),
    checkbox('enabled', spec.enabled !== false, 'Enabled'),
  ], async (values) => {
    const body = existing ? structuredClone(existing) : { metadata: {}, spec: {} };
    body.metadata.name = values.name;
    body.metadata.displayName = values.displayName || undefined;
    body.spec.runtime = { ...(body.spec.runtime || {}), type: values.type, model: values.model || undefined,
      organization: values.organization || undefined, endpointName: values.type.startsWith('hf_') ? values.endpointName || undefined : undefined };
    body.spec.integrationConnections = values.connections || [];
    body.spec.policies = values.policies || [];
    body.spec.enabled = values.enabled;
    const result = existing
      ? await v0('PUT', `/models/${encodeURIComponent(values.name)}`, body)
      : await v0('POST', '/models', body);
    saved(result);
  }, existing ? 'Save model' : 'Create model');
}

function eventsPanel(model) {
  panel(`Events of ${model.metadata.name}`, h('table', null,
    h('thead', null, h('tr', null, h('th', null, 'Time'), h('th', null, 'Status'), h('th', null, 'Message'))),
    h('tbody', null, (model.events || []).slice().reverse().map((e) =>
      h('tr', null, h('td', null, time(e.time)), h('td', null, badge(e.status)), h('td', null, e.message || ''))))));
}

export default async function modelsPage(main) {
  const message = notice();
  let table = null;
  async function openForm(existing) {
    const [connections, policies] = await Promise.all([allOf('/integrations/connections'), allOf('/policies')]);
    const editor = panel(existing ? `Edit ${existing.metadata.name}` : 'New model', modelForm(existing, connections, policies, (model) => {
      editor.close();
      message.show(`Model ${model.metadata.name} saved: ${model.status}.`);
      table.reload();
    }));
  }
  async function toggle(model) {
    try {
      const body = structuredClone(model);
      body.spec.enabled = model.spec.enabled === false;
      const saved = await v0('PUT', `/models/${encodeURIComponent(model.metadata.name)}`, body);
      message.show(`Model ${saved.metadata.name} ${saved.spec.enabled === false ? 'disabled' : 'enabled'}.`);
      table.reload();
    } catch (error) {
      message.show(error);
    }
  }
  const newButton = h('button', { type: 'button', id: 'new-model', hidden: !holds('models:create') }, 'New model');
  newButton.addEventListener('click', () => openForm(null).catch((e) => message.show(e)));
  table = pagedTable({
    label: 'models',
    fetchPage: serverPages('/models'),
    empty: 'No model yet: create a connection, then a model.',
    columns: [
      { title: 'Name', cell: (m) => [h('strong', null, m.metadata.name), m.metadata.displayName ? h('div', { class: 'muted display-name' }, m.metadata.displayName) : null] },
      { title: 'Type', cell: (m) => (m.spec.runtime || {}).type || '–' },
      { title: 'Provider model', cell: (m) => (m.spec.runtime || {}).model || '–' },
      { title: 'Status', cell: (m) => badge(m.status) },
      { title: 'Enabled', cell: (m) => (m.spec.enabled === false ? 'no' : 'yes') },
      { title: 'Connections', cell: (m) => (m.spec.integrationConnections || []).join(', ') },
      { title: 'Last event', cell: (m) => { const e = (m.events || []).at(-1); return e ? `${e.status} ${time(e.time)}` : '–'; } },
      { title: '', class: 'row-actions', cell: (m) => {
        const events = h('button', { type: 'button', class: 'secondary' }, 'Events');
        events.addEventListener('click', () => eventsPanel(m));
        const edit = h('button', { type: 'button', class: 'secondary' }, 'Edit');
        edit.addEventListener('click', () => openForm(m).catch((e) => message.show(e)));
        const enable = h('button', { type: 'button', class: 'secondary' }, m.spec.enabled === false ? 'Enable' : 'Disable');
        enable.addEventListener('click', () => toggle(m));
        const remove = deleteButton('Delete', `/models/${encodeURIComponent(m.metadata.name)}`,
          `Model ${m.metadata.name} deleted.`, message, () => table.reload());
        return [events, edit, enable, remove];
      } },
    ],
  });
  replace(main, pageHeader('Models', newButton), message.element, table.element);
}
