// "/", "/public" and "/<username>": the three timelines of the original. The server's shell
// already shows the frame and the title where the path tells it; a user's page shows its
// heading only once the user is known.

import { ApiError, CONNECTION_FIELDS, VIEWER_FIELDS, fetchViewer, graphql } from '../api.js';
import { flash } from '../flash.js';
import {
  announce, clearError, clearFlashes, el, failed, renderFlashes, renderNav, setTitle, showError,
  userPath,
} from '../layout.js';
import { LIVE_EVENT_FIELDS, keepLive } from '../live.js';
import { MessageList } from '../messages.js';

function route(pathname) {
  if (pathname === '/') return { kind: 'home' };
  if (pathname === '/public') return { kind: 'public' };
  return { kind: 'user', username: decodeURIComponent(pathname.slice(1)) };
}

const QUERIES = {
  home: {
    first: `query HomePage { viewer { ${VIEWER_FIELDS} } homeTimeline { ${CONNECTION_FIELDS} } }`,
    more: `query HomeMore($after: String) { homeTimeline(after: $after) { ${CONNECTION_FIELDS} } }`,
    connection: (data) => data.homeTimeline,
  },
  public: {
    first: `query PublicPage { viewer { ${VIEWER_FIELDS} } publicTimeline { ${CONNECTION_FIELDS} } }`,
    more: `query PublicMore($after: String) { publicTimeline(after: $after) { ${CONNECTION_FIELDS} } }`,
    connection: (data) => data.publicTimeline,
  },
  user: {
    first: `query UserPage($username: String!) {
      viewer { ${VIEWER_FIELDS} }
      user(username: $username) {
        username isViewer followedByViewer messages { ${CONNECTION_FIELDS} }
      }
    }`,
    more: `query UserMore($username: String!, $after: String) {
      user(username: $username) { messages(after: $after) { ${CONNECTION_FIELDS} } }
    }`,
    connection: (data) => data.user?.messages ?? { nodes: [], pageInfo: { hasNextPage: false } },
  },
};

const LIVE = {
  home: `subscription HomeLive { homeTimelineEvents { ${LIVE_EVENT_FIELDS} } }`,
  public: `subscription PublicLive { publicTimelineEvents { ${LIVE_EVENT_FIELDS} } }`,
  user: `subscription UserLive($username: String!) {
    userTimelineEvents(username: $username) { ${LIVE_EVENT_FIELDS} }
  }`,
};

function showNotFound() {
  document.title = 'Not Found | MiniTwit';
  const heading = document.getElementById('page-title');
  heading.textContent = '404 Not Found';
  heading.hidden = false;
  const body = document.getElementById('body');
  body.replaceChildren(
    heading,
    el('p', {}, 'The requested URL was not found on the server. '
      + 'If you entered the URL manually please check your spelling and try again.'),
  );
}

function renderFollowStatus(user) {
  const box = document.getElementById('followstatus');
  if (user.isViewer) {
    box.replaceChildren('This is you!');
  } else {
    const following = user.followedByViewer;
    const link = el(
      'a',
      { class: following ? 'unfollow' : 'follow', href: userPath(user.username) },
      following ? 'Unfollow user' : 'Follow user',
    );
    link.addEventListener('click', (event) => {
      event.preventDefault();
      toggleFollow(user.username, following, link);
    });
    box.replaceChildren(
      following ? 'You are currently following this user. ' : 'You are not yet following this user. ',
      link,
      '.',
    );
  }
  box.hidden = false;
}

async function toggleFollow(username, following, link) {
  if (link.getAttribute('aria-disabled') === 'true') return;
  link.setAttribute('aria-disabled', 'true');
  clearFlashes();
  const mutation = following
    ? 'mutation Unfollow($username: String!) { unfollow(username: $username) { username } }'
    : 'mutation Follow($username: String!) { follow(username: $username) { username } }';
  try {
    await graphql(mutation, { username });
    flash(following
      ? `You are no longer following "${username}"`
      : `You are now following "${username}"`);
    location.replace(userPath(username));
  } catch (error) {
    link.removeAttribute('aria-disabled');
    showError(error instanceof ApiError ? error.message : String(error));
  }
}

function renderTwitbox(viewer) {
  const box = document.getElementById('twitbox');
  const form = document.getElementById('twit-form');
  const input = document.getElementById('text');
  const share = form.querySelector('input[type="submit"]');
  document.getElementById('twitbox-label').textContent = `What's on your mind ${viewer.username}?`;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text) {
      input.focus();
      return;
    }
    share.disabled = true;
    clearFlashes();
    try {
      await graphql('mutation Post($text: String!) { postMessage(text: $text) { id } }', { text });
      flash('Your message was recorded');
      location.replace('/');
    } catch (error) {
      share.disabled = false;
      showError(error instanceof ApiError ? error.message : String(error));
    }
  });
  box.hidden = false;
}

async function main() {
  const page = route(location.pathname);
  const queries = QUERIES[page.kind];
  const variables = page.kind === 'user' ? { username: page.username } : {};
  let data;
  try {
    data = await graphql(queries.first, variables);
  } catch (error) {
    if (page.kind === 'home' && error.code === 'UNAUTHENTICATED') {
      location.replace('/public');
      return;
    }
    renderFlashes();
    renderNav(await fetchViewer().catch(() => null));
    announce('');
    document.getElementById('messages').setAttribute('aria-busy', 'false');
    showError(error instanceof ApiError ? error.message : String(error));
    return;
  }
  const { viewer } = data;
  renderNav(viewer);
  renderFlashes();
  announce('');
  if (page.kind === 'user' && !data.user) {
    showNotFound();
    return;
  }
  if (page.kind === 'user') {
    setTitle(`${data.user.username}'s Timeline`);
    if (viewer) renderFollowStatus(data.user);
  }
  if (page.kind === 'home') renderTwitbox(viewer);
  const list = new MessageList({
    action: viewer?.isModerator ? 'flag' : null,
    fetchPage: async (after) => queries.connection(await graphql(queries.more, { ...variables, after })),
  });
  clearError();
  list.show(queries.connection(data));
  keepLive(list, {
    query: LIVE[page.kind],
    variables,
    refetch: async () => queries.connection(await graphql(queries.more, { ...variables, after: null })),
  });
}

main().catch(failed);
