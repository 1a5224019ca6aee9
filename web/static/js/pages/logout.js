// "/logout": sign out, then on to "/public" with the flash "You were logged out".

import { ApiError, fetchViewer, graphql } from '../api.js';
import { flash } from '../flash.js';
import { announce, failed, renderNav, showError } from '../layout.js';

async function main() {
  try {
    await graphql('mutation Logout { logout }');
    flash('You were logged out');
    location.replace('/public');
  } catch (error) {
    announce('');
    renderNav(await fetchViewer().catch(() => null));
    showError(error instanceof ApiError ? error.message : String(error));
  }
}

main().catch(failed);
