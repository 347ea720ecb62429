// GraphiQL at /playground: queries and mutations over HTTP, subscriptions
// over graphql-transport-ws, a "Start session" button that puts the token
// into the request headers (and so into the WebSocket's connection_init),
// and every contract operation as a ready example.
import './workers.js';
import 'graphiql/style.css';
import './page.css';

import { StrictMode, useState, useSyncExternalStore } from 'react';
import { createRoot } from 'react-dom/client';
import { getIntrospectionQuery, getOperationAST, parse } from 'graphql';
import { GraphiQL, HISTORY_PLUGIN } from 'graphiql';
import { ToolbarButton, tryParseJSONC, useGraphiQL, useGraphiQLActions } from '@graphiql/react';

import { bearer, createSocket, describeSocketError, postGraphQL } from '../common/graphql.js';
import { contractExamples, rememberIds } from './examples.js';

const EXAMPLES = contractExamples();
const example = (name) => EXAMPLES.flatMap((g) => g.examples).find((e) => e.name === name);

// ------------------------------------------------------------ the session

// The token of the session this page started; a tab whose headers name no
// Authorization uses it, so new tabs work without copying headers around.
const session = {
  token: null,
  listeners: new Set(),
  set(token) {
    this.token = token;
    for (const listener of this.listeners) listener();
  },
  subscribe(listener) {
    session.listeners.add(listener);
    return () => session.listeners.delete(listener);
  },
};

function headerValue(headers, name) {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}

// ------------------------------------------------------------ the fetcher

let socket = null;

// One WebSocket per Authorization value: a new token means a new
// connection_init, so a changed token replaces the socket.
function socketFor(authorization) {
  if (!socket || socket.authorization !== authorization) {
    socket?.client.dispose();
    socket = { authorization, client: createSocket({ authorization, retryAttempts: 5 }) };
  }
  return socket.client;
}

async function* subscribe(params, authorization) {
  const results = socketFor(authorization).iterate({
    query: params.query,
    variables: params.variables ?? undefined,
    operationName: params.operationName ?? undefined,
  });
  try {
    for await (const result of results) {
      rememberIds(result);
      yield result;
    }
  } catch (error) {
    yield { errors: [{ message: describeSocketError(error) }] };
  }
}

// Parsed from the query sent, not GraphiQL's `documentAST`, which lags the
// editor by the same debounce as the operation name.
function operationKind(params) {
  try {
    const document = parse(params.query);
    return getOperationAST(document, params.operationName ?? undefined)?.operation;
  } catch {
    return undefined; // the server reports the syntax error
  }
}

// GraphiQL's introspection query nests type references nine `ofType`s
// deep, 13 levels in all, past the server's depth limit (graphql.max_depth,
// 10 by default). Four levels reach every wrapper the schema uses
// (`[Booking!]!` needs three) and keep the whole query at depth 10.
const INTROSPECTION = getIntrospectionQuery({ descriptions: true, inputValueDeprecation: true, typeDepth: 4 });

// GraphiQL derives the operation name from the editor after a short debounce,
// so a document run right after it changed (an example opened, then Run) can
// carry the previous document's name and fail as "Unknown operation". A name
// the document does not define, on a document with one operation, is stale:
// send that operation's own name.
function liveOperationName(params) {
  if (!params.operationName) return params;
  try {
    const names = parse(params.query)
      .definitions.filter((d) => d.kind === 'OperationDefinition')
      .map((d) => d.name?.value);
    if (names.length !== 1 || names.includes(params.operationName)) return params;
    return { ...params, operationName: names[0] ?? undefined };
  } catch {
    return params; // the server reports the syntax error
  }
}

async function fetcher(params, options = {}) {
  params = liveOperationName(params);
  if (params.operationName === 'IntrospectionQuery') {
    params = { ...params, query: INTROSPECTION };
  }
  const headers = { ...(options.headers ?? {}) };
  let authorization = headerValue(headers, 'authorization');
  if (authorization === undefined && session.token) {
    authorization = bearer(session.token);
    headers.Authorization = authorization;
  }
  if (operationKind(params) === 'subscription') {
    return subscribe(params, authorization);
  }
  const result = await postGraphQL(params, headers);
  rememberIds(result);
  return result;
}

// ------------------------------------------------------------ start session

function useStartSession() {
  const headerEditor = useGraphiQL((s) => s.headerEditor);
  const { updateActiveTabValues } = useGraphiQLActions();
  const [state, setState] = useState({ busy: false, error: null });
  const start = async () => {
    setState({ busy: true, error: null });
    try {
      const startSession = example('StartSession');
      const { data, errors } = await postGraphQL({
        query: startSession.query,
        variables: JSON.parse(startSession.variables()),
      });
      const token = data?.startSession?.token;
      if (!token) throw new Error(errors?.[0]?.message ?? 'startSession returned no token');
      session.set(token);
      const current = tryParseJSONC(headerEditor?.getValue() ?? '') ?? {};
      for (const key of Object.keys(current)) if (key.toLowerCase() === 'authorization') delete current[key];
      const headers = JSON.stringify({ ...current, Authorization: bearer(token) }, null, 2);
      if (headerEditor) headerEditor.setValue(headers);
      else updateActiveTabValues({ headers });
      setState({ busy: false, error: null });
    } catch (error) {
      setState({ busy: false, error: error instanceof Error ? error.message : String(error) });
    }
  };
  return [start, state];
}

function KeyIcon(props) {
  return (
    <svg viewBox="0 0 24 24" width="1em" height="1em" fill="none" stroke="currentColor" strokeWidth="1.5" {...props}>
      <circle cx="8" cy="15" r="4" />
      <path d="M11 12l9-9M16 7l3 3M14 9l2 2" />
    </svg>
  );
}

function ListIcon(props) {
  return (
    <svg viewBox="0 0 24 24" width="1em" height="1em" fill="none" stroke="currentColor" strokeWidth="1.5" {...props}>
      <path d="M8 6h13M8 12h13M8 18h13M3 6h1M3 12h1M3 18h1" />
    </svg>
  );
}

function StartSessionToolbarButton() {
  const [start] = useStartSession();
  return (
    <ToolbarButton onClick={start} label="Start session">
      <KeyIcon className="graphiql-toolbar-icon" aria-hidden="true" />
    </ToolbarButton>
  );
}

// ------------------------------------------------------------ examples

function ExamplesPanel() {
  const queryEditor = useGraphiQL((s) => s.queryEditor);
  const variableEditor = useGraphiQL((s) => s.variableEditor);
  const token = useSyncExternalStore(session.subscribe, () => session.token);
  const [start, { busy, error }] = useStartSession();
  const open = (e) => {
    queryEditor?.setValue(e.query);
    variableEditor?.setValue(e.variables());
    queryEditor?.focus();
  };
  return (
    <div className="wf-examples">
      <h2 className="graphiql-doc-explorer-title">Examples</h2>
      <div className="wf-session" role="status">
        <p>
          {token
            ? 'Session started: its token is in the request headers.'
            : 'No session yet: most operations need one.'}
        </p>
        <button type="button" className="wf-start" onClick={start} disabled={busy}>
          {token ? 'Start a new session' : 'Start session'}
        </button>
        {error && <p className="wf-error">{error}</p>}
      </div>
      <p>Each operation of the frontend contract, with its variables filled in. Run it with Ctrl-Enter.</p>
      {EXAMPLES.map((group) => (
        <section key={group.title} aria-label={group.title}>
          <h3>{group.title}</h3>
          <ul>
            {group.examples.map((e) => (
              <li key={e.name}>
                <button type="button" onClick={() => open(e)} data-example={e.name}>
                  <span>{e.name}</span>
                  <span className="wf-kind">{e.kind}</span>
                </button>
              </li>
            ))}
          </ul>
        </section>
      ))}
    </div>
  );
}

const EXAMPLES_PLUGIN = { title: 'Examples', icon: ListIcon, content: ExamplesPanel };
// Module-level, so the provider sees the same array on every render.
const PLUGINS = [EXAMPLES_PLUGIN, HISTORY_PLUGIN];

const WELCOME = `# Welcome to the Wayfarer API.
#
# 1. Press "Start session" (in the Examples panel, or the key button in the
#    toolbar). The token goes into the request headers: over HTTP as
#    Authorization, over WebSocket in the connection_init payload.
# 2. Pick an operation of the frontend contract under Examples; its
#    variables are filled in. Run it with Ctrl-Enter or the run button.
#    Subscriptions stream their events into the response pane.

${example('ServiceStatus')?.query ?? ''}`;

function Playground() {
  return (
    <GraphiQL
      fetcher={fetcher}
      plugins={PLUGINS}
      // The Examples panel is what a newcomer needs first.
      visiblePlugin={EXAMPLES_PLUGIN}
      defaultQuery={WELCOME}
      defaultEditorToolsVisibility="headers"
      shouldPersistHeaders={false}
    >
      <GraphiQL.Logo>Wayfarer</GraphiQL.Logo>
      <GraphiQL.Toolbar>
        {({ prettify, merge, copy }) => (
          <>
            <StartSessionToolbarButton />
            {prettify}
            {merge}
            {copy}
          </>
        )}
      </GraphiQL.Toolbar>
    </GraphiQL>
  );
}

createRoot(document.getElementById('graphiql')).render(
  <StrictMode>
    <Playground />
  </StrictMode>,
);
