// The page frame shared by every page: navigation, flashes, errors, titles.
// Data from the server only ever enters the document as text nodes or attribute values.

import { takeFlashes } from './flash.js';

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value == null) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

export function userPath(username) {
  return `/${encodeURIComponent(username)}`;
}

export function setTitle(title) {
  document.title = `${title} | MiniTwit`;
  const heading = document.getElementById('page-title');
  if (heading) {
    heading.textContent = title;
    heading.hidden = false;
  }
}

function navLink(href, text) {
  const link = el('a', { href }, text);
  if (href === location.pathname) link.setAttribute('aria-current', 'page');
  return link;
}

export function renderNav(viewer) {
  const links = viewer
    ? [
        navLink('/', 'my timeline'),
        navLink('/public', 'public timeline'),
        ...(viewer.isModerator ? [navLink('/moderation', 'flagged messages')] : []),
        navLink('/logout', `sign out [${viewer.username}]`),
      ]
    : [
        navLink('/public', 'public timeline'),
        navLink('/register', 'sign up'),
        navLink('/login', 'sign in'),
      ];
  const parts = [];
  links.forEach((link, index) => {
    if (index > 0) parts.push(' | ');
    parts.push(link);
  });
  document.getElementById('navigation').replaceChildren(...parts);
}

export function renderFlashes() {
  const list = document.getElementById('flashes');
  const messages = takeFlashes();
  list.replaceChildren(...messages.map((message) => el('li', {}, message)));
  list.hidden = messages.length === 0;
}

// Flashes report the previous page's action; once the visitor acts again they are stale.
export function clearFlashes() {
  const list = document.getElementById('flashes');
  list.replaceChildren();
  list.hidden = true;
}

export function showError(message) {
  const box = document.getElementById('error');
  box.replaceChildren(el('strong', {}, 'Error:'), ` ${message}`);
  box.hidden = false;
}

export function clearError() {
  const box = document.getElementById('error');
  box.replaceChildren();
  box.hidden = true;
}

export function announce(message) {
  const status = document.getElementById('status');
  if (status) status.textContent = message;
}

function parseDate(value) {
  if (typeof value === 'number') return new Date(value * 1000);
  const text = String(value);
  const hasZone = /([zZ]|[+-]\d\d:?\d\d)$/.test(text);
  return new Date(hasZone ? text : `${text}Z`);
}

const MINUTE = 60 * 1000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

// The exact UTC time, as the original showed it ("2026-12-04 @ 18:20"), with the zone said.
export function utcText(date) {
  const pad = (number) => String(number).padStart(2, '0');
  return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`
    + ` @ ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())} UTC`;
}

// In the reader's own zone and format: relative within a day ("3 minutes ago"), else the date.
export function readerText(date, now = Date.now()) {
  const age = now - date.getTime();
  if (age >= 0 && age < DAY) {
    const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
    if (age < MINUTE) return relative.format(0, 'second');
    if (age < HOUR) return relative.format(-Math.floor(age / MINUTE), 'minute');
    return relative.format(-Math.floor(age / HOUR), 'hour');
  }
  return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(date);
}

// <time datetime="<UTC>" title="<UTC>">3 minutes ago</time>; kept current by refreshTimes().
export function timeElement(value) {
  const date = parseDate(value);
  if (Number.isNaN(date.getTime())) return el('time', {}, String(value));
  const iso = date.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return el('time', { datetime: iso, title: utcText(date) }, readerText(date));
}

export function refreshTimes(root = document) {
  for (const node of root.querySelectorAll('time[datetime]')) {
    node.textContent = readerText(new Date(node.getAttribute('datetime')));
  }
}

export function failed(error) {
  console.error(error);
  const box = document.getElementById('error');
  if (box) showError('Something went wrong on this page. Please reload it.');
}
