// The one way this client talks to the server: GraphQL over same-origin fetch.
// The session lives in the HttpOnly cookie; no credential ever passes through JavaScript.

export const NETWORK_FAILURE = 'The server could not be reached. Please try again.';
export const SERVER_FAILURE = 'The server had a problem. Please try again.';

const KNOWN_CODES = new Set([
  'BAD_USER_INPUT', 'UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'CONFLICT', 'SERVICE_UNAVAILABLE',
  'TIMEOUT', 'RATE_LIMITED',
]);
const TIMEOUT_MS = 15000;

export class ApiError extends Error {
  // field: the argument at fault (extensions.field), when the server names one.
  constructor(message, code, field = null) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.field = field;
  }
}

export async function graphql(query, variables = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  let response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ query, variables }),
      signal: controller.signal,
    });
  } catch (cause) {
    console.error('GraphQL request failed', cause);
    throw new ApiError(NETWORK_FAILURE, 'NETWORK');
  } finally {
    clearTimeout(timer);
  }
  let body;
  try {
    body = await response.json();
  } catch (cause) {
    console.error('GraphQL answer is not JSON', response.status, cause);
    throw new ApiError(SERVER_FAILURE, 'SERVER');
  }
  const errors = Array.isArray(body?.errors) ? body.errors : [];
  if (errors.length > 0) {
    const first = errors[0];
    const code = first?.extensions?.code;
    if (KNOWN_CODES.has(code) && typeof first.message === 'string') {
      const field = first.extensions.field;
      throw new ApiError(first.message, code, typeof field === 'string' ? field : null);
    }
    console.error('GraphQL errors', errors);
    throw new ApiError(SERVER_FAILURE, 'SERVER');
  }
  if (!response.ok || body?.data == null) {
    console.error('GraphQL answer without data', response.status, body);
    throw new ApiError(SERVER_FAILURE, 'SERVER');
  }
  return body.data;
}

export const VIEWER_FIELDS = 'username isModerator';

export const CONNECTION_FIELDS = `
  nodes { id text pubDate flagged author { username gravatarUrl(size: 48) } }
  pageInfo { hasNextPage endCursor }
`;

export async function fetchViewer() {
  const data = await graphql(`query Viewer { viewer { ${VIEWER_FIELDS} } }`);
  return data.viewer;
}
