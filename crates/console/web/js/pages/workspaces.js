// Workspaces: those this credential can act in, switch to one, create one.

import { h, replace } from '../dom.js';
import { v0, setWorkspace, workspace, holds } from '../api.js';
import { field, form, input, notice, pageHeader, panel } from '../forms.js';
import { count, time } from '../format.js';

export default async function workspacesPage(main) {
  const message = notice();
  const body = h('tbody');
  async function load() {
    const list = await v0('GET', '/workspaces');
    replace(body, list.map((w) => {
      const use = h('button', { type: 'button', class: 'secondary', disabled: w.name === workspace() }, w.name === workspace() ? 'Current' : 'Switch');
      use.addEventListener('click', () => {
        setWorkspace(w.name);
        window.dispatchEvent(new HashChangeEvent('hashchange'));
      });
      const counts = w.resourceCounts || {};
      return h('tr', null, h('td', null, h('strong', null, w.name), w.displayName ? h('div', { class: 'muted' }, w.displayName) : null),
        h('td', { class: 'num' }, count(counts.models)), h('td', { class: 'num' }, count(counts.integrationconnections)),
        h('td', { class: 'num' }, count(counts.policies)), h('td', null, time(w.createdAt)), h('td', { class: 'row-actions' }, use));
    }));
  }
  const create = h('button', { type: 'button', hidden: !holds('workspaces:create') }, 'New workspace');
  create.addEventListener('click', () => {
    const editor = panel('New workspace', form([
      field('Name', input('name', { required: true, placeholder: 'team-search' })),
      field('Display name', input('displayName')),
    ], async (values) => {
      const created = await v0('POST', '/workspaces', { name: values.name, displayName: values.displayName || undefined });
      editor.close();
      message.show(`Workspace ${created.name} created.`);
      load();
    }, 'Create workspace'));
  });
  replace(main, pageHeader('Workspaces', create), message.element,
    h('table', null, h('thead', null, h('tr', null, ['Name', 'Models', 'Connections', 'Policies', 'Created', ''].map((t) => h('th', null, t)))), body));
  try {
    await load();
  } catch (error) {
    message.show(error);
  }
}
