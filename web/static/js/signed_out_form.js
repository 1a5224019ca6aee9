// The sign-in and sign-up pages: signed-in visitors go on to "/"; the form runs `send` with its
// fields, and a refusal shows as "Error: <text>" with the field it is about focused: the one
// the server names (extensions.field, an argument named like the form's input; `focusFor` may
// send it to another: a mismatch of the repeated password starts again at the first), else
// the first.

import { ApiError, fetchViewer } from './api.js';
import { clearFlashes, renderFlashes, renderNav, showError } from './layout.js';

export async function signedOutForm(formId, { send, clearOnError, focusFor = {} }) {
  const form = document.getElementById(formId);
  const submit = form.querySelector('input[type="submit"]');
  let viewer = null;
  try {
    viewer = await fetchViewer();
  } catch (error) {
    showError(error.message);
  }
  if (viewer) {
    location.replace('/');
    return;
  }
  renderNav(null);
  renderFlashes();
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    clearFlashes();
    try {
      await send(form.elements);
    } catch (error) {
      submit.disabled = false;
      for (const name of clearOnError) form.elements[name].value = '';
      showError(error instanceof ApiError ? error.message : String(error));
      const field = error instanceof ApiError ? error.field : null;
      const named = field ? form.elements[focusFor[field] ?? field] : null;
      (named ?? form.querySelector('input:not([type="hidden"]):not([type="submit"])')).focus();
    }
  });
  submit.disabled = false;
}
