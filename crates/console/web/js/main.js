// The console's shell: sign-in, the navigation, the workspace switcher and the hash routes
// (`#/models`), each page a module that renders into the main area.

import { h, replace } from './dom.js';
import * as api from './api.js';
import signinPage from './pages/signin.js';
import overviewPage from './pages/overview.js';
import modelsPage from './pages/models.js';
import connectionsPage from './pages/connections.js';
import policiesPage from './pages/policies.js';
import keysPage from './pages/keys.js';
import workspacesPage from './pages/workspaces.js';
import usagePage from './pages/usage.js';
import playgroundPage from './pages/playground.js';

const PAGES = [
  { path: 'overview', title: 'Overview', render: overviewPage },
  { path: 'models', title: 'Models', render: modelsPage },
  { path: 'connections', title: 'Connections', render: connectionsPage },
  { path: 'policies', title: 'Policies', render: policiesPage },
  { path: 'keys', title: 'Keys & accounts', render: keysPage },
  { path: 'workspaces', title: 'Workspaces', render: workspacesPage },
  { path: 'usage', title: 'Usage', render: usagePage },
  { path: 'playground', title: 'Playground', render: playgroundPage },
];

const app = document.getElementById('app');

function currentPage() {
  const path = location.hash.replace(/^#\/?/, '').split('?')[0];
  return PAGES.find((p) => p.path === path) || PAGES[0];
}

async function workspaceSwitcher() {
  const picker = h('select', { 'aria-label': 'Workspace', id: 'workspace' });
  let names = [api.workspace()];
  try {
    names = (await api.v0('GET', '/workspaces')).map((w) => w.name);
  } catch { /* without workspaces:list, only the credential's own */ }
  if (!names.includes(api.workspace())) names.unshift(api.workspace());
  replace(picker, names.map((name) => h('option', { value: name, selected: name === api.workspace() }, name)));
  picker.addEventListener('change', () => { api.setWorkspace(picker.value); render(); });
  return picker;
}

/** Counts renders: a render that a newer one overtook (a session ended meanwhile) stops. */
let renders = 0;

async function render(reason) {
  const mine = ++renders;
  const session = api.session();
  if (!session) {
    replace(app, signinPage(async () => { await render(); }, reason));
    return;
  }
  const page = currentPage();
  const main = h('main', { id: 'main', tabindex: '-1' });
  const signOut = h('button', { type: 'button', class: 'secondary', id: 'sign-out' }, 'Sign out');
  signOut.addEventListener('click', async () => {
    try { await api.signOut(); } finally { location.hash = '#/'; render(); }
  });
  const switcher = await workspaceSwitcher();
  if (mine !== renders) return;
  replace(app,
    h('header', { class: 'top' },
      h('a', { class: 'brand', href: '#/overview' }, 'modelgate'),
      h('label', { class: 'workspace' }, 'Workspace ', switcher),
      h('span', { class: 'who', title: session.scopes.join(' ') }, `${session.subjectType === 'user' ? 'User' : 'Service account'} ${session.subject}`),
      signOut),
    h('div', { class: 'layout' },
      h('nav', { 'aria-label': 'Pages' }, h('ul', null, PAGES.map((p) =>
        h('li', null, h('a', { href: `#/${p.path}`, 'aria-current': p === page ? 'page' : null }, p.title))))),
      main));
  document.title = `${page.title} · modelgate`;
  try {
    await page.render(main);
  } catch (error) {
    main.append(h('p', { class: 'notice error' }, error.message));
  }
}

api.onSignedOut((error) => render(error.message));
window.addEventListener('hashchange', () => render());

(async () => {
  try {
    await api.resume();
  } catch (error) {
    replace(app, h('p', { class: 'notice error' }, `The console cannot reach its server: ${error.message}`));
    return;
  }
  render();
})();
