// Sign-in: an API key, or a service account's client id and secret, traded for a session
// cookie the page cannot read. The key is sent once and kept nowhere in the browser.

import { h } from '../dom.js';
import { signIn } from '../api.js';
import { field, form, input } from '../forms.js';

export default function signinPage(done, reason) {
  const withKey = h('div', { class: 'credential' },
    field('API key', input('apiKey', { type: 'password', placeholder: 'mgk_…', autocomplete: 'current-password' }),
      'The admin key printed at first start, or any key: the console can do exactly what it can.'));
  const withClient = h('div', { class: 'credential', hidden: true },
    field('Client id', input('clientId', { placeholder: 'sa_…' })),
    field('Client secret', input('clientSecret', { type: 'password', placeholder: 'mgs_…', autocomplete: 'current-password' })));
  const toggle = h('button', { type: 'button', class: 'link' }, 'Sign in with a service account instead');
  toggle.addEventListener('click', () => {
    withKey.hidden = !withKey.hidden;
    withClient.hidden = !withClient.hidden;
    toggle.textContent = withKey.hidden ? 'Sign in with an API key instead' : 'Sign in with a service account instead';
  });
  const signin = form([withKey, withClient, toggle], async (values) => {
    const credentials = withKey.hidden
      ? { clientId: values.clientId, clientSecret: values.clientSecret }
      : { apiKey: values.apiKey };
    await signIn(credentials);
    await done();
  }, 'Sign in');
  return h('section', { class: 'signin' }, h('h1', null, 'modelgate'), h('p', { class: 'muted' }, 'Sign in to the console'),
    reason ? h('p', { class: 'notice warn', id: 'signed-out-reason' }, reason) : null, signin);
}
