// GraphiQL with the explorer plugin, as Strawberry's page sets it up, from MiniTwit's own copies
// of React and GraphiQL (web/static/vendor/graphiql/, fetched by scripts/fetch_graphiql.py).
// Requests carry the session cookie (same origin), so GraphiQL acts as the signed-in user.
// Unlike Strawberry's page: no js-cookie (MiniTwit has no CSRF token cookie) and no websocket
// endpoint for subscriptions (MiniTwit serves GraphQL over HTTP only).

/* global React, ReactDOM, GraphiQL, GraphiQLPluginExplorer */

(function start() {
  const EXAMPLE_QUERY = `# Welcome to MiniTwit's GraphiQL.
#
# Write a query on this side, run it with Ctrl-Enter (or the play button),
# and see the answer on the other. Ctrl-Space completes names from the schema;
# the "Docs" button describes every type and field.

{
  publicTimeline(first: 5) {
    nodes {
      text
      pubDate
      author { username }
    }
  }
}
`;

  const parameters = new URLSearchParams(location.search);

  function updateURL(name, value) {
    if (value) parameters.set(name, value);
    else parameters.delete(name);
    const search = parameters.toString();
    history.replaceState(null, '', search ? `?${search}` : location.pathname);
  }

  const fetcher = GraphiQL.createFetcher({ url: location.pathname });

  function GraphiQLWithExplorer() {
    const [query, setQuery] = React.useState(parameters.get('q') || EXAMPLE_QUERY);
    const [variables, setVariables] = React.useState(parameters.get('variables') ?? undefined);
    const [headers, setHeaders] = React.useState(undefined);
    const explorerPlugin = React.useMemo(() => GraphiQLPluginExplorer.explorerPlugin(), []);

    return React.createElement(GraphiQL, {
      fetcher,
      defaultEditorToolsVisibility: true,
      plugins: [explorerPlugin],
      query,
      variables,
      headers,
      onEditQuery(value) {
        setQuery(value);
        updateURL('q', value);
      },
      onEditVariables(value) {
        setVariables(value);
        updateURL('variables', value);
      },
      onEditHeaders: setHeaders,
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
    });
  }

  ReactDOM.createRoot(document.getElementById('graphiql'))
    .render(React.createElement(GraphiQLWithExplorer));
}());
