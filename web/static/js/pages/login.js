// "/login": sign in, then on to "/" with the flash "You were logged in".

import { graphql } from '../api.js';
import { flash } from '../flash.js';
import { failed } from '../layout.js';
import { signedOutForm } from '../signed_out_form.js';

signedOutForm('login-form', {
  clearOnError: ['password'],
  async send({ username, password }) {
    await graphql(
      'mutation Login($username: String!, $password: String!) '
        + '{ login(username: $username, password: $password) { username } }',
      { username: username.value, password: password.value },
    );
    flash('You were logged in');
    location.assign('/');
  },
}).catch(failed);
