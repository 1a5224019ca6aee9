// The 404 page: its frame is the server's; the navigation follows who is signed in.

import { fetchViewer } from '../api.js';
import { failed, renderNav } from '../layout.js';

async function main() {
  renderNav(await fetchViewer().catch(() => null));
}

main().catch(failed);
