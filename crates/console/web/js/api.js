// The console's one way to call the server: the `/v0` API as every client uses it (paged lists
// with Blaxel-Version, the workspace in X-Blaxel-Workspace), authenticated by the session
// cookie, with the session's CSRF token on every write. The page never sees a key.

const PAGED_VERSION = '2026-04-28';

const state = { session: null, workspace: null, onSignedOut: null };

/** An error answered by the server, with its message. */
export class ApiError extends Error {
  constructor(status, body) {
    const message = body && typeof body === 'object'
      ? (body.message || (body.error && body.error.message) || JSON.stringify(body))
      : (body || `HTTP ${status}`);
    super(message);
    this.status = status;
    this.body = body;
  }
}

export function session() {
  return state.session;
}

export function workspace() {
  return state.workspace;
}

export function setWorkspace(name) {
  state.workspace = name;
}

/** Called when the server says the session has ended. */
export function onSignedOut(callback) {
  state.onSignedOut = callback;
}

/** Headers for a call: version, workspace, and the CSRF token on writes. */
function headers(method, hasBody) {
  const result = { 'Blaxel-Version': PAGED_VERSION, Accept: 'application/json' };
  if (state.workspace) result['X-Blaxel-Workspace'] = state.workspace;
  if (method !== 'GET' && state.session) result['X-CSRF-Token'] = state.session.csrfToken;
  if (hasBody) result['Content-Type'] = 'application/json';
  return result;
}

/** Sends a request; resolves to the response once it is known good (status < 400). */
export async function send(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: headers(method, body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  if (!response.ok) {
    const text = await response.text();
    let data = text;
    try { data = JSON.parse(text); } catch { /* not JSON: keep the text */ }
    const error = new ApiError(response.status, data);
    if (response.status === 401 && state.session && state.onSignedOut) {
      // The server ended the session (expired, idle, credential revoked): forget it here too.
      state.session = null;
      state.workspace = null;
      state.onSignedOut(error);
    }
    throw error;
  }
  return response;
}

/** A JSON call; `null` for an answer without a body. */
export async function call(method, path, body) {
  const response = await send(method, path, body);
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/** A call to the `/v0` API. */
export function v0(method, path, body) {
  return call(method, `/v0${path}`, body);
}

/** Signs in with `{apiKey}` or `{clientId, clientSecret}`. */
export async function signIn(credentials) {
  state.session = await call('POST', '/console/api/session', credentials);
  state.workspace = state.session.workspace;
  return state.session;
}

/** The current session, or null when signed out. */
export async function resume() {
  try {
    state.session = await call('GET', '/console/api/session');
    state.workspace = state.workspace || state.session.workspace;
    return state.session;
  } catch (error) {
    if (error.status === 401) return null;
    throw error;
  }
}

export async function signOut() {
  try {
    await call('DELETE', '/console/api/session');
  } finally {
    state.session = null;
    state.workspace = null;
  }
}

/** Whether the session's credential holds `scope` (the server checks it anyway). */
export function holds(scope) {
  const scopes = (state.session && state.session.scopes) || [];
  return scopes.includes('admin') || scopes.includes(scope);
}
