// "/", "/public" and "/<username>": the three timelines of the original. The server's shell
// already shows the frame and the title where the path tells it; a user's page shows its
// heading only once the user is known.

import { ApiError, CONNECTION_FIELDS, VIEWER_FIELDS, fetchViewer, graphql } from '../api.js';
import { flash } from '../flash.js';
import {
  announce, clearError, clearFlashes, el, failed, refreshTimes, renderFlashes, renderNav, setTitle,
  showError, userPath,
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
    first: `query HomePage($after: String) {
      viewer { ${VIEWER_FIELDS} } homeTimeline(after: $after) { ${CONNECTION_FIELDS} }
    }`,
    more: `query HomeMore($after: String) { homeTimeline(after: $after) { ${CONNECTION_FIELDS} } }`,
    connection: (data) => data.homeTimeline,
  },
  public: {
    first: `query PublicPage($after: String) {
      viewer { ${VIEWER_FIELDS} } publicTimeline(after: $after) { ${CONNECTION_FIELDS} }
    }`,
    more: `query PublicMore($after: String) { publicTimeline(after: $after) { ${CONNECTION_FIELDS} } }`,
    connection: (data) => data.publicTimeline,
  },
  user: {
    first: `query UserPage($username: String!, $after: String) {
      viewer { ${VIEWER_FIELDS} }
      user(username: $username) {
        username isViewer followedByViewer messages(after: $after) { ${CONNECTION_FIELDS} }
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

// A live count of what is left; over the limit the text stays as typed (no silent cut) and
// Share says why it refuses.
function characterCounter(input, max) {
  const count = document.getElementById('text-count');
  const update = () => {
    const left = max - [...input.value].length;
    count.textContent = left >= 0
      ? `${left} character${left === 1 ? '' : 's'} left`
      : `${-left} character${left === -1 ? '' : 's'} too many`;
    count.classList.toggle('over', left < 0);
    input.toggleAttribute('aria-invalid', left < 0);
    return left;
  };
  input.addEventListener('input', update);
  update();
  return update;
}

function renderTwitbox(viewer) {
  const box = document.getElementById('twitbox');
  const form = document.getElementById('twit-form');
  const input = document.getElementById('text');
  const share = form.querySelector('input[type="submit"]');
  const max = Number(input.dataset.maxLength);
  const left = characterCounter(input, max);
  document.getElementById('twitbox-label').textContent = `What's on your mind ${viewer.username}?`;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = input.value;
    clearFlashes();
    if (!text.trim()) {
      showError('There is nothing to share yet: write a message first');
      input.focus();
      return;
    }
    if (left() < 0) {
      showError(`A message can have at most ${max} characters; this one has ${[...text].length}`);
      input.focus();
      return;
    }
    share.disabled = true;
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

// ?after=<cursor>: the page of the timeline after that message, so that Back and bookmarks
// find it again; "More messages" adds the next page and puts its cursor in the address.
function pagedUrl(after) {
  const url = new URL(location.href);
  if (after) url.searchParams.set('after', after);
  else url.searchParams.delete('after');
  return url;
}

async function main() {
  const page = route(location.pathname);
  const queries = QUERIES[page.kind];
  const variables = page.kind === 'user' ? { username: page.username } : {};
  const after = new URLSearchParams(location.search).get('after');
  let data;
  try {
    data = await graphql(queries.first, { ...variables, after });
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
  let shownAfter = after;
  const list = new MessageList({
    action: viewer?.isModerator ? 'flag' : null,
    fetchPage: async (cursor) => {
      const connection = queries.connection(await graphql(queries.more, { ...variables, after: cursor }));
      history.pushState(null, '', pagedUrl(cursor));
      shownAfter = cursor;
      return connection;
    },
  });
  clearError();
  list.show(queries.connection(data));
  // Back and Forward between pages of one timeline (not a #fragment): show what the address says.
  window.addEventListener('popstate', () => {
    if (new URLSearchParams(location.search).get('after') !== shownAfter) location.reload();
  });
  setInterval(() => refreshTimes(list.list), 60 * 1000);
  if (after) {
    const newest = document.getElementById('newest');
    document.getElementById('newest-link').href = pagedUrl(null).href;
    newest.hidden = false;
    return; // an older page: new messages belong on the first one
  }
  keepLive(list, {
    query: LIVE[page.kind],
    variables,
    refetch: async () => queries.connection(await graphql(queries.more, { ...variables, after: null })),
  });
}

main().catch(failed);
