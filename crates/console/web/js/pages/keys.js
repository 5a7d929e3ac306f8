// Service accounts and API keys: create with scopes and an expiry, the key (or client secret)
// shown once with a copy button, list, revoke.

import { h, replace } from '../dom.js';
import { v0, session, holds } from '../api.js';
import { localPages, pagedTable } from '../list.js';
import { deleteButton, field, form, input, notice, pageHeader, panel } from '../forms.js';
import { time } from '../format.js';

const SCOPES = ['admin', 'models:list', 'models:get', 'models:create', 'models:update', 'models:delete', 'models:invoke',
  'integrations:list', 'integrations:get', 'integrations:create', 'integrations:update', 'integrations:delete',
  'policies:list', 'policies:get', 'policies:create', 'policies:update', 'policies:delete',
  'workspaces:get', 'workspaces:list', 'workspaces:create', 'workspaces:update', 'workspaces:delete',
  'apiKey:list', 'apiKey:write'];

function scopeChoices(selected) {
  return h('fieldset', { class: 'choices scopes' }, h('legend', null, 'Scopes'),
    SCOPES.filter((scope) => holds(scope)).map((scope) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', name: `scope-${scope}`, value: scope, 'data-group': 'scopes', checked: selected.includes(scope) }), ' ', scope)));
}

/** Shows a secret once, with a copy button; it is not kept anywhere. */
function showOnce(title, label, secret, extra) {
  const value = h('input', { type: 'text', readonly: true, value: secret, class: 'secret', 'aria-label': label });
  const copy = h('button', { type: 'button' }, 'Copy');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(secret);
    } catch {
      value.select(); // no clipboard outside secure contexts: selected for Ctrl+C
    }
    copy.textContent = 'Copied';
  });
  panel(title, h('div', { class: 'once' }, extra, field(label, h('div', { class: 'row' }, value, copy)),
    h('p', { class: 'notice warn' }, 'Shown only this once: store it now. modelgate keeps only its digest.')));
}

function keyForm(path, created) {
  return form([
    field('Name', input('name', { required: true, placeholder: 'ci-pipeline' })),
    field('Expires in', input('expiresIn', { placeholder: '30d' }), 'A number and s, m, h, d or w; empty: never.'),
    scopeChoices(['models:invoke']),
  ], async (values) => {
    const key = await v0('POST', path, { name: values.name, expires_in: values.expiresIn || undefined, scopes: values.scopes || [] });
    created(key);
  }, 'Create key');
}

/** A table of the keys at `path` (a principal's), with create and revoke. */
function keysSection(title, path, message) {
  let table = null;
  const create = h('button', { type: 'button', class: 'new-key' }, 'New key');
  create.addEventListener('click', () => {
    const editor = panel(`New key: ${title}`, keyForm(path, (key) => {
      editor.close();
      showOnce(`Key ${key.name} created`, 'API key', key.apiKey, h('p', null, `Key id ${key.id}, scopes ${key.scopes.join(' ')}`));
      table.reload();
    }));
  });
  table = pagedTable({
    label: 'keys',
    fetchPage: localPages(() => v0('GET', path), (k, q) => k.name.toLowerCase().includes(q) || k.id.includes(q)),
    empty: 'No key.',
    columns: [
      { title: 'Name', cell: (k) => h('strong', null, k.name) },
      { title: 'Id', cell: (k) => h('code', null, k.id) },
      { title: 'Scopes', cell: (k) => k.scopes.join(' ') },
      { title: 'Expires', cell: (k) => (k.expiresAt ? time(k.expiresAt) : 'never') },
      { title: 'Created', cell: (k) => time(k.createdAt) },
      { title: '', class: 'row-actions', cell: (k) => deleteButton('Revoke', `${path}/${encodeURIComponent(k.id)}`,
        `Key ${k.name} (${k.id}) revoked.`, message, () => table.reload()) },
    ],
  });
  return h('section', { class: 'keys' }, h('div', { class: 'section-header' }, h('h2', null, title), create), table.element);
}

function accountForm(created) {
  return form([
    field('Name', input('name', { required: true, placeholder: 'billing-service' })),
    field('Description', input('description')),
    scopeChoices(['models:invoke']),
  ], async (values) => {
    created(await v0('POST', '/service_accounts', { name: values.name, description: values.description || undefined, scopes: values.scopes || [] }));
  }, 'Create service account');
}

export default async function keysPage(main) {
  const message = notice();
  const accounts = h('div');
  const mine = session().subjectType === 'user' && holds('admin')
    ? keysSection(`Keys of ${session().subject}`, '/users/me/api_keys', message) : null;
  const newAccount = h('button', { type: 'button', id: 'new-service-account' }, 'New service account');
  async function loadAccounts() {
    try {
      const list = await v0('GET', '/service_accounts');
      replace(accounts, list.length ? list.map((a) => {
        const remove = deleteButton('Delete account', `/service_accounts/${encodeURIComponent(a.client_id)}`,
          `Service account ${a.name} deleted with its keys.`, message, loadAccounts);
        return h('details', { class: 'account' },
          h('summary', null, h('strong', null, a.name), ' ', h('code', null, a.client_id), ' ', h('span', { class: 'muted' }, a.scopes.join(' '))),
          h('div', { class: 'buttons' }, remove),
          keysSection(`Keys of ${a.name}`, `/service_accounts/${encodeURIComponent(a.client_id)}/api_keys`, message));
      }) : h('p', { class: 'muted' }, 'No service account in this workspace.'));
    } catch (error) {
      replace(accounts, h('p', { class: 'notice error' }, error.message));
    }
  }
  newAccount.addEventListener('click', () => {
    const editor = panel('New service account', accountForm((account) => {
      editor.close();
      showOnce(`Service account ${account.name} created`, 'Client secret', account.client_secret,
        h('p', null, 'Client id ', h('code', null, account.client_id)));
      loadAccounts();
    }));
  });
  replace(main, pageHeader('Keys and service accounts'), message.element, mine,
    h('section', null, h('div', { class: 'section-header' }, h('h2', null, 'Service accounts'), newAccount), accounts));
  loadAccounts();
}
