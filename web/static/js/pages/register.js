// "/register": sign up, then on to "/login" with the flash of the original.

import { ApiError, fetchViewer, graphql } from '../api.js';
import { flash } from '../flash.js';
import { failed, renderFlashes, renderNav, showError } from '../layout.js';

const FIELD_OF_ERROR = {
  'You have to enter a username': 'username',
  'The username is already taken': 'username',
  'You have to enter a valid email address': 'email',
  'You have to enter a password': 'password',
  'The two passwords do not match': 'password2',
};

async function main() {
  const form = document.getElementById('register-form');
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
    const { username, email, password, password2 } = form.elements;
    try {
      await graphql(
        'mutation Register($username: String!, $email: String!, $password: String!, '
          + '$password2: String!) { register(username: $username, email: $email, '
          + 'password: $password, password2: $password2) { username } }',
        {
          username: username.value,
          email: email.value,
          password: password.value,
          password2: password2.value,
        },
      );
      flash('You were successfully registered and can login now');
      location.assign('/login');
    } catch (error) {
      submit.disabled = false;
      password.value = '';
      password2.value = '';
      showError(error instanceof ApiError ? error.message : String(error));
      form.elements[FIELD_OF_ERROR[error.message] ?? 'username'].focus();
    }
  });
  submit.disabled = false;
}

main().catch(failed);
