// Runs every graphql-http server audit against a running Wayfarer and prints
// one JSON line: {"ok":N,"notice":N,"warn":N,"error":N,"failures":[...]}.
// Usage: node audit.mjs http://127.0.0.1:8000/graphql
// The Rust test suite starts the server and runs this (tests/api/http_audit.rs).
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql url>');
  process.exit(2);
}
const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
const failures = [];
for (const audit of serverAudits({ url, fetchFn: fetch })) {
  let result;
  try {
    result = await audit.fn();
  } catch (e) {
    console.error(`audit ${audit.id} could not run: ${e}`);
    process.exit(3);
  }
  counts[result.status]++;
  if (result.status !== 'ok') {
    failures.push({ id: result.id, status: result.status, name: result.name, reason: result.reason });
  }
}
console.log(JSON.stringify({ ...counts, failures }));
