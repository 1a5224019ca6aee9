// "/login": sign in, then on to "/" with the flash "You were logged in".

import { ApiError, fetchViewer, graphql } from '../api.js';
import { flash } from '../flash.js';
import { failed, renderFlashes, renderNav, showError } from '../layout.js';

async function main() {
  const form = document.getElementById('login-form');
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
    const username = form.elements.username.value;
    const password = form.elements.password.value;
    try {
      await graphql(
        'mutation Login($username: String!, $password: String!) '
          + '{ login(username: $username, password: $password) { username } }',
        { username, password },
      );
      flash('You were logged in');
      location.assign('/');
    } catch (error) {
      submit.disabled = false;
      form.elements.password.value = '';
      showError(error instanceof ApiError ? error.message : String(error));
      (error.message === 'Invalid password' ? form.elements.password : form.elements.username).focus();
    }
  });
  submit.disabled = false;
}

main().catch(failed);
