// Monaco's web workers, started from the files build.mjs bundles into
// /assets/ — never from a CDN. Imported before GraphiQL so Monaco finds
// this environment when it first starts a language service.
const WORKERS = { json: 'json.worker.js', graphql: 'graphql.worker.js' };

globalThis.MonacoEnvironment = {
  getWorker(_moduleId, label) {
    return new Worker(`/assets/${WORKERS[label] ?? 'editor.worker.js'}`, { name: label });
  },
};
