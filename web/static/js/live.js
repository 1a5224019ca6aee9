// Live timelines: one GraphQL subscription over a same-origin WebSocket (graphql-transport-ws).
// The session cookie goes with the handshake; no credential passes through JavaScript.
// When the socket cannot open, the page simply stays as it is (reload to see new messages).

const PROTOCOL = 'graphql-transport-ws';
const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;
const GIVE_UP_AFTER_FAILED_OPENS = 5; // in a row, without ever being acknowledged
// Close codes after which trying again cannot help: refused by policy, forbidden, bad request.
const FINAL_CODES = new Set([1008, 4400, 4401, 4403, 4406, 4409, 4429]);

// query: a subscription document with one root field; onEvent(event) gets that field's value.
// onReconnect() runs after the socket came back: events may have been missed meanwhile.
// Returns { close() }.
export function liveSubscription(query, variables, { onEvent, onReconnect = () => {} }) {
  let socket = null;
  let closed = false;
  let delay = FIRST_DELAY_MS;
  let failedOpens = 0;
  let everAcknowledged = false;
  let timer = null;

  function open() {
    if (closed || typeof WebSocket !== 'function') return;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let acknowledged = false;
    try {
      socket = new WebSocket(`${scheme}//${location.host}/graphql`, PROTOCOL);
    } catch (error) {
      console.warn('Live updates are off', error);
      return;
    }
    socket.addEventListener('open', () => socket.send(JSON.stringify({ type: 'connection_init' })));
    socket.addEventListener('message', (message) => {
      let data;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      if (data.type === 'connection_ack') {
        acknowledged = true;
        failedOpens = 0;
        delay = FIRST_DELAY_MS;
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables } }));
        if (everAcknowledged) onReconnect();
        everAcknowledged = true;
      } else if (data.type === 'ping') {
        socket.send(JSON.stringify({ type: 'pong' }));
      } else if (data.type === 'next' && data.id === '1') {
        const payload = data.payload ?? {};
        if (payload.errors?.length) {
          console.warn('Live updates are off', payload.errors);
          stop();
          return;
        }
        const value = payload.data ? Object.values(payload.data)[0] : null;
        if (value) onEvent(value);
      } else if (data.type === 'error' || data.type === 'complete') {
        console.warn('Live updates are off', data.payload ?? data.type);
        stop();
      }
    });
    socket.addEventListener('close', (event) => {
      socket = null;
      if (closed) return;
      if (!acknowledged) failedOpens += 1;
      if (FINAL_CODES.has(event.code) || failedOpens >= GIVE_UP_AFTER_FAILED_OPENS) {
        console.warn('Live updates are off', event.code, event.reason);
        return;
      }
      const wait = delay * (0.5 + Math.random() / 2);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
      timer = setTimeout(open, wait);
    });
  }

  function stop() {
    closed = true;
    clearTimeout(timer);
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000);
  }

  open();
  window.addEventListener('pagehide', stop, { once: true });
  return { close: stop };
}

export const LIVE_MESSAGE_FIELDS = 'id text pubDate flagged author { username gravatarUrl(size: 48) }';
export const LIVE_EVENT_FIELDS = `kind messageId message { ${LIVE_MESSAGE_FIELDS} }`;

// Keeps a MessageList live. New messages wait behind a "Show N new messages" bar, as people know
// it from Twitter (or go straight in with direct: true); removed ones leave at once. After a
// REFETCH (or a reconnection) the bar offers to load the first page again.
// refetch() resolves to the first page's connection.
export function keepLive(list, { query, variables = {}, refetch, direct = false }) {
  const pending = new Map();
  let stale = false;
  const bar = document.createElement('button');
  bar.type = 'button';
  bar.className = 'live-bar';
  bar.hidden = true;
  const region = document.createElement('div');
  region.setAttribute('role', 'status');
  region.append(bar);
  list.list.before(region);

  function render() {
    const count = pending.size;
    if (stale) {
      bar.textContent = 'New messages may have arrived: show them';
    } else if (count > 0) {
      bar.textContent = count === 1 ? 'Show 1 new message' : `Show ${count} new messages`;
    }
    bar.hidden = !stale && count === 0;
  }

  bar.addEventListener('click', async () => {
    if (stale) {
      bar.disabled = true;
      try {
        list.show(await refetch());
        stale = false;
        pending.clear();
      } catch (error) {
        console.warn('Could not reload the timeline', error);
      } finally {
        bar.disabled = false;
      }
    } else {
      list.prepend([...pending.values()].reverse());
      pending.clear();
    }
    render();
    if (bar.hidden) list.list.querySelector('a')?.focus();
  });

  return liveSubscription(query, variables, {
    onEvent(event) {
      if (event.kind === 'ADDED' && event.message) {
        if (direct) list.prepend([event.message]);
        else if (!list.item(event.messageId)) pending.set(event.messageId, event.message);
      } else if (event.kind === 'REMOVED') {
        pending.delete(event.messageId);
        list.removeMessage(event.messageId);
      } else if (event.kind === 'REFETCH') {
        stale = true;
      }
      render();
    },
    onReconnect() {
      stale = true;
      render();
    },
  });
}
