// Runs graphql-http's auditServer (the GraphQL-over-HTTP spec's audit) against the URL given
// and prints every result as JSON; graphql_http.rs judges them.
'use strict';
const path = require('path');
const { auditServer } = require(path.join(process.env.GRAPHQL_HTTP_DIR, 'node_modules', 'graphql-http'));
(async () => {
  const results = await auditServer({ url: process.argv[2] });
  const out = [];
  for (const r of results) {
    out.push({ id: r.id, name: r.name, status: r.status, reason: r.reason || null });
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
