// GraphiQL's start-up: the welcome query, the headers editor, and subscriptions over
// graphql-transport-ws with the Headers tab's Authorization in connection_init.
'use strict';

const defaultQuery = `# Welcome to Intake.
#
# 1. Sign in: run the login mutation below with your email and password.
# 2. Copy accessToken into the Headers tab (bottom):  {"Authorization": "Bearer <accessToken>"}
# 3. Then query your leads. Subscriptions (leadSubmitted, leadUpdated) use the same header.

mutation SignIn {
  login(email: "admin@localhost", password: "your password") {
accessToken
expiresIn
user { fullName role }
  }
}

query Leads {
  leads(first: 20, status: PENDING) {
totalCount
nodes { id firstName lastName email status createdAt resume { fileName downloadUrl } }
pageInfo { hasNextPage endCursor }
  }
}
`;
// The bearer token lives in the Headers tab: keep GraphiQL's state (tabs, headers) for this
// browser tab only, never in localStorage where it would outlive the session and be readable
// by anything later served from this origin. Older versions kept it there: remove it.
for (const key of Object.keys(window.localStorage)) {
  if (key.startsWith('graphiql:')) window.localStorage.removeItem(key);
}
const params = new URLSearchParams(window.location.search);
const root = ReactDOM.createRoot(document.getElementById('graphiql'));
root.render(React.createElement(GraphiQL, {
  fetcher: GraphiQL.createFetcher({
    url: window.location.pathname,
    // Subscriptions: graphql-transport-ws on the same path; the Headers tab's Authorization
    // goes in connection_init.
    wsClient: graphqlWs.createClient({
      url: (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + location.pathname,
      connectionParams: () => {
        try { return JSON.parse(sessionStorage.getItem('graphiql:headers') || '{}'); } catch { return {}; }
      },
    }),
  }),
  defaultQuery,
  query: params.get('query') || undefined,
  defaultHeaders: '{\n  "Authorization": "Bearer <paste accessToken from login>"\n}',
  defaultEditorToolsVisibility: 'headers',
  isHeadersEditorEnabled: true,
  shouldPersistHeaders: true,
  storage: window.sessionStorage,
}));
