// The GraphQL transport both pages share: POST /graphql on this origin, and
// a graphql-ws client for /graphql over WebSocket. The session token travels
// as `Authorization: Bearer <token>` over HTTP and as
// `{"authorization": "Bearer <token>"}` in `connection_init` (CONTRACT.md).
import { createClient } from 'graphql-ws';

/** `http://host/graphql` of the page's own origin. */
export const HTTP_URL = new URL('/graphql', window.location.href).toString();

/** `ws://host/graphql` (or `wss:`) of the page's own origin. */
export const WS_URL = HTTP_URL.replace(/^http/, 'ws');

/**
 * One GraphQL request over HTTP. Resolves to the response body
 * (`{ data, errors }`) whatever the status; rejects only when no
 * GraphQL response came back (network down, not JSON).
 */
export async function postGraphQL({ query, variables, operationName }, headers = {}) {
  const response = await fetch(HTTP_URL, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json;q=0.9',
      ...headers,
    },
    body: JSON.stringify({ query, variables, operationName }),
  });
  const type = response.headers.get('content-type') ?? '';
  if (!type.includes('json')) {
    throw new Error(`The server answered ${response.status} without a GraphQL response.`);
  }
  return response.json();
}

/** `Bearer <token>`, or undefined for no token. */
export function bearer(token) {
  return token ? `Bearer ${token}` : undefined;
}

// Close codes after which trying again cannot help: the server refused this
// session or this client's messages (graphql-ws codes, CONTRACT.md).
const FATAL_CLOSE_CODES = new Set([4400, 4401, 4403, 4406, 4409, 4429]);

/**
 * A graphql-ws client that authenticates with `authorization` and, when the
 * socket drops, reconnects with exponential backoff (0.5 s doubling up to
 * 15 s, with jitter), resubscribing what was subscribed. `lazy` (the
 * default) connects while something is subscribed; `lazy: false` keeps the
 * socket open for as long as the page is, and reports a connection it gave
 * up on to `onNonLazyError`. `on` takes graphql-ws's event listeners
 * (`connecting`, `connected`, `closed`, …).
 */
export function createSocket({ authorization, on = {}, retryAttempts = Infinity, lazy = true, onNonLazyError }) {
  return createClient({
    url: WS_URL,
    connectionParams: authorization ? { authorization } : {},
    lazy,
    onNonLazyError,
    keepAlive: 10_000,
    retryAttempts,
    shouldRetry: (event) => !(event && typeof event.code === 'number' && FATAL_CLOSE_CODES.has(event.code)),
    retryWait: async (retries) => {
      const base = Math.min(15_000, 500 * 2 ** retries);
      await new Promise((resolve) => setTimeout(resolve, base / 2 + Math.random() * (base / 2)));
    },
    on,
  });
}

/** A close event or error as one line a person can read. */
export function describeSocketError(error) {
  if (error && typeof error.code === 'number') {
    return `WebSocket closed (${error.code}${error.reason ? `: ${error.reason}` : ''})`;
  }
  if (Array.isArray(error)) {
    return error.map((e) => e.message).join('; ');
  }
  return error instanceof Error ? error.message : String(error);
}
