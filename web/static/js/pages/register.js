// "/register": sign up, then on to "/login" with the flash of the original.

import { graphql } from '../api.js';
import { flash } from '../flash.js';
import { failed } from '../layout.js';
import { signedOutForm } from '../signed_out_form.js';

signedOutForm('register-form', {
  clearOnError: ['password', 'password2'],
  focusFor: { password2: 'password' },
  async send({ username, email, password, password2 }) {
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
  },
}).catch(failed);
