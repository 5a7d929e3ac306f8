// Form pieces shared by the pages: labelled fields, a message line, a two-step button for
// destructive actions (no browser dialogs), and a panel that slides in over a list.

import { h, replace } from './dom.js';
import { v0 } from './api.js';

/** A labelled field around `input`. */
export function field(label, input, hint) {
  return h('label', { class: 'field' }, h('span', null, label), input, hint ? h('small', { class: 'muted' }, hint) : null);
}

export function input(name, options = {}) {
  return h('input', { name, type: options.type || 'text', value: options.value ?? '', placeholder: options.placeholder,
    required: options.required, autocomplete: options.autocomplete || 'off', readonly: options.readonly, min: options.min });
}

/** A `<select>` of `[value, label]` pairs (or plain values). */
export function select(name, options, value) {
  return h('select', { name }, options.map((option) => {
    const [v, label] = Array.isArray(option) ? option : [option, option];
    return h('option', { value: v, selected: v === value }, label);
  }));
}

export function checkbox(name, checked, label) {
  return h('label', { class: 'check' }, h('input', { type: 'checkbox', name, checked }), ' ', label);
}

/** A line that says what happened: `show(text)` or `show(error)`. */
export function notice() {
  const el = h('p', { class: 'notice', role: 'status', hidden: true });
  return {
    element: el,
    show(message, kind = 'ok') {
      el.hidden = false;
      el.className = `notice ${message instanceof Error ? 'error' : kind}`;
      replace(el, message instanceof Error ? message.message : message);
    },
    clear() { el.hidden = true; },
  };
}

/** A button that asks once more before `action` (no browser dialog). */
export function confirmButton(label, action) {
  const button = h('button', { type: 'button', class: 'danger' }, label);
  let armed = false;
  let timer = null;
  button.addEventListener('click', async () => {
    if (!armed) {
      armed = true;
      replace(button, `Confirm: ${label.toLowerCase()}?`);
      timer = setTimeout(() => { armed = false; replace(button, label); }, 5000);
      return;
    }
    clearTimeout(timer);
    armed = false;
    replace(button, label);
    button.disabled = true;
    try { await action(); } finally { button.disabled = false; }
  });
  return button;
}

/**
 * A two-step button that sends `DELETE /v0{path}`, then says `done` on `message` and calls
 * `after`; a refusal (a connection still used by models, a missing scope) is shown as the API
 * words it.
 */
export function deleteButton(label, path, done, message, after) {
  return confirmButton(label, async () => {
    try {
      await v0('DELETE', path);
      message.show(done);
      after();
    } catch (error) {
      message.show(error);
    }
  });
}

/** A form whose submit runs `onSubmit(values)` and shows its error; values by field name. */
export function form(children, onSubmit, submitLabel = 'Save') {
  const message = notice();
  const submit = h('button', { type: 'submit' }, submitLabel);
  const el = h('form', { class: 'form' }, children, h('div', { class: 'actions' }, submit), message.element);
  el.addEventListener('submit', async (event) => {
    event.preventDefault();
    message.clear();
    submit.disabled = true;
    try {
      await onSubmit(values(el), message);
    } catch (error) {
      message.show(error);
    } finally {
      submit.disabled = false;
    }
  });
  return el;
}

/** A form's values: text fields as trimmed strings, checkboxes as booleans, multi-selects as arrays. */
export function values(formElement) {
  const result = {};
  for (const el of formElement.elements) {
    if (!el.name) continue;
    if (el.type === 'checkbox') {
      if (el.dataset.group) (result[el.dataset.group] ||= []).push(...(el.checked ? [el.value] : []));
      else result[el.name] = el.checked;
    } else if (el.multiple) result[el.name] = [...el.selectedOptions].map((o) => o.value);
    else result[el.name] = el.value.trim();
  }
  return result;
}

/** A panel over the page (create and edit forms); `close()` removes it. */
export function panel(title, content) {
  const close = h('button', { type: 'button', class: 'secondary close', 'aria-label': 'Close' }, 'Close');
  const el = h('section', { class: 'panel', role: 'dialog', 'aria-label': title },
    h('header', null, h('h2', null, title), close), content);
  const backdrop = h('div', { class: 'backdrop' }, el);
  const remove = () => backdrop.remove();
  close.addEventListener('click', remove);
  document.body.append(backdrop);
  const first = el.querySelector('input, select, textarea');
  if (first) first.focus();
  return { close: remove, element: el };
}

/**
 * A button that opens a panel titled `title` holding `makeForm(saved)`; when the form calls
 * `saved(result)`, the panel closes and `done(result)` runs.
 */
export function panelButton(label, title, makeForm, done, props = {}) {
  const button = h('button', { type: 'button', ...props }, label);
  button.addEventListener('click', () => {
    const editor = panel(title, makeForm((result) => {
      editor.close();
      done(result);
    }));
  });
  return button;
}

/** A page header with a title and buttons. */
export function pageHeader(title, ...buttons) {
  return h('div', { class: 'page-header' }, h('h1', null, title), h('div', { class: 'buttons' }, buttons));
}

/** Small label for a status. */
export function badge(text) {
  const kind = /FAIL|ERROR|DEACTIVATED|REVOKED/i.test(text || '') ? 'bad' : /DEPLOYED|ACTIVE/i.test(text || '') ? 'good' : 'neutral';
  return h('span', { class: `badge ${kind}` }, text || '–');
}
