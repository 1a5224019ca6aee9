// Flash messages survive exactly one page load, like Flask's flash(): stored on the way out,
// shown and forgotten by the next page.

const KEY = 'minitwit.flashes';
let fallback = [];

function read() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(KEY) ?? '[]');
    return Array.isArray(stored) ? stored.filter((item) => typeof item === 'string') : [];
  } catch {
    return fallback;
  }
}

export function flash(message) {
  const messages = [...read(), message];
  try {
    sessionStorage.setItem(KEY, JSON.stringify(messages));
  } catch {
    fallback = messages;
  }
}

export function takeFlashes() {
  const messages = read();
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // Storage is unavailable; the in-memory fallback is all there is.
  }
  fallback = [];
  return messages;
}
