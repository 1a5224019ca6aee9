// "/moderation": the flagged messages, for moderators, each with an Unflag control.

import { ApiError, CONNECTION_FIELDS, fetchViewer, graphql } from '../api.js';
import {
  announce, clearError, failed, renderFlashes, renderNav, showError,
} from '../layout.js';
import { LIVE_EVENT_FIELDS, keepLive } from '../live.js';
import { MessageList } from '../messages.js';

const LIVE = `subscription FlaggedLive { flaggedMessageEvents { ${LIVE_EVENT_FIELDS} } }`;
const MORE = `query FlaggedMore($after: String) { flaggedMessages(after: $after) { ${CONNECTION_FIELDS} } }`;

async function main() {
  const messages = document.getElementById('messages');
  let viewer;
  try {
    viewer = await fetchViewer();
  } catch (error) {
    renderNav(null);
    announce('');
    messages.setAttribute('aria-busy', 'false');
    showError(error instanceof ApiError ? error.message : String(error));
    return;
  }
  if (!viewer) {
    location.replace('/login');
    return;
  }
  renderNav(viewer);
  renderFlashes();
  if (!viewer.isModerator) {
    announce('');
    messages.setAttribute('aria-busy', 'false');
    showError('Only moderators can see flagged messages.');
    return;
  }
  const list = new MessageList({
    action: 'unflag',
    fetchPage: async (after) => (await graphql(MORE, { after })).flaggedMessages,
  });
  try {
    const connection = (await graphql(MORE, { after: null })).flaggedMessages;
    announce('');
    clearError();
    list.show(connection);
    keepLive(list, {
      query: LIVE,
      direct: true,
      refetch: async () => (await graphql(MORE, { after: null })).flaggedMessages,
    });
  } catch (error) {
    announce('');
    messages.setAttribute('aria-busy', 'false');
    showError(error instanceof ApiError ? error.message : String(error));
  }
}

main().catch(failed);
