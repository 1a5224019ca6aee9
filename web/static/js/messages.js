// A list of messages as the original renders it, plus cursor paging and moderation controls.

import { ApiError, graphql } from './api.js';
import {
  announce, clearError, clearFlashes, el, showError, timeElement, userPath,
} from './layout.js';

const EMPTY_TEXT = "There's no message so far.";

function safeImageUrl(url) {
  return typeof url === 'string' && /^(https?:\/\/|\/)/.test(url) ? url : null;
}

function messageItem(message, action) {
  const { author } = message;
  // Names and texts in any script: each isolated (<bdi>), so a right-to-left text cannot
  // reorder the name or the date beside it.
  const paragraph = el(
    'p', {},
    el('strong', {}, el('a', { href: userPath(author.username) }, el('bdi', {}, author.username))),
    ' ',
    el('bdi', { class: 'text' }, message.text),
    ' ',
    el('small', {}, '\u2014 ', timeElement(message.pubDate)),
  );
  const item = el('li', { 'data-message-id': message.id });
  if (action) {
    item.append(el(
      'button',
      { type: 'button', class: action.className, title: `${action.label} this message by ${author.username}` },
      action.label,
    ));
  }
  const avatar = el('span', { class: 'avatar' });
  const src = safeImageUrl(author.gravatarUrl);
  if (src) {
    const image = el('img', { src, alt: '', width: 48, height: 48 });
    // Offline or blocked Gravatar: show the local placeholder behind it instead of a broken icon.
    image.addEventListener('error', () => image.classList.add('missing'), { once: true });
    avatar.append(image);
  }
  item.append(avatar);
  item.append(paragraph);
  return item;
}

const ACTIONS = {
  flag: {
    label: 'Flag',
    className: 'flag',
    mutation: 'mutation Flag($id: ID!) { flagMessage(id: $id) { id flagged } }',
    done: 'The message was flagged and is hidden from the timelines.',
  },
  unflag: {
    label: 'Unflag',
    className: 'unflag',
    mutation: 'mutation Unflag($id: ID!) { unflagMessage(id: $id) { id flagged } }',
    done: 'The message was unflagged and is shown again.',
  },
};

export class MessageList {
  // fetchPage(after) resolves to a MessageConnection; action is 'flag', 'unflag' or null.
  constructor({ fetchPage, action = null }) {
    this.list = document.getElementById('messages');
    this.paging = document.getElementById('paging');
    this.more = document.getElementById('more');
    this.fetchPage = fetchPage;
    this.action = action ? ACTIONS[action] : null;
    this.cursor = null;
    this.more.addEventListener('click', () => this.loadMore());
    this.list.addEventListener('click', (event) => this.onListClick(event));
  }

  show(connection) {
    this.list.replaceChildren();
    this.append(connection);
  }

  append(connection) {
    const items = connection.nodes.map((message) => messageItem(message, this.action));
    this.list.querySelector('li.empty')?.remove();
    this.list.append(...items);
    this.showEmptyIfNeeded();
    this.list.setAttribute('aria-busy', 'false');
    this.cursor = connection.pageInfo.endCursor;
    this.paging.hidden = !connection.pageInfo.hasNextPage;
    return items;
  }

  item(messageId) {
    return [...this.list.children].find((item) => item.dataset.messageId === messageId) ?? null;
  }

  // Live updates: messages (newest first) put on top, and messages taken away.
  prepend(messages) {
    const fresh = messages.filter((message) => !this.item(message.id));
    if (fresh.length === 0) return [];
    const items = fresh.map((message) => messageItem(message, this.action));
    this.list.querySelector('li.empty')?.remove();
    this.list.prepend(...items);
    return items;
  }

  removeMessage(messageId) {
    const item = this.item(messageId);
    if (!item) return;
    item.remove();
    this.showEmptyIfNeeded();
  }

  showEmptyIfNeeded() {
    if (this.list.children.length === 0) {
      this.list.append(el('li', { class: 'empty' }, el('em', {}, EMPTY_TEXT)));
    }
  }

  async loadMore() {
    this.more.disabled = true;
    this.list.setAttribute('aria-busy', 'true');
    try {
      const connection = await this.fetchPage(this.cursor);
      clearError();
      const items = this.append(connection);
      if (this.paging.hidden && items.length > 0) items[0].querySelector('a').focus();
    } catch (error) {
      this.list.setAttribute('aria-busy', 'false');
      showError(error instanceof ApiError ? error.message : String(error));
    } finally {
      this.more.disabled = false;
    }
  }

  async onListClick(event) {
    const button = event.target.closest('button');
    if (!button || !this.action || !this.list.contains(button)) return;
    const item = button.closest('li');
    const neighbour = item.nextElementSibling ?? item.previousElementSibling;
    button.disabled = true;
    clearFlashes();
    try {
      await graphql(this.action.mutation, { id: item.dataset.messageId });
      clearError();
      item.remove();
      this.showEmptyIfNeeded();
      announce(this.action.done);
      (neighbour?.querySelector('button') ?? document.getElementById('main')).focus();
    } catch (error) {
      button.disabled = false;
      showError(error instanceof ApiError ? error.message : String(error));
    }
  }
}
