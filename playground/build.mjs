// Builds the pages the server embeds into dist/: the chat demo (index.html)
// and GraphiQL (playground.html) with their scripts, styles, fonts and the
// Monaco editor's web workers under dist/assets/. Nothing in the output
// refers to another origin: every import is bundled, so the pages work with
// no internet connection and under a `'self'`-only Content-Security-Policy.
//
// `node build.mjs` (or `npm run build`); the server's build script runs it
// when dist/ is missing or older than the sources.
import { build } from 'esbuild';
import { cp, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));
// Built into a scratch directory and moved into place at the end, so a
// failed build leaves dist/ as it was: the server's build script watches
// dist/ and would otherwise see a half-written one.
const scratch = `${root}.build`;
const dist = `${root}dist`;
const assets = `${scratch}/assets`;

const common = {
  bundle: true,
  minify: true,
  sourcemap: false,
  target: ['chrome110', 'firefox110', 'safari16'],
  legalComments: 'linked',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
};

await rm(scratch, { recursive: true, force: true });
await mkdir(assets, { recursive: true });

// The pages' own scripts and styles. Fonts and images that the styles refer
// to (Monaco's codicon font) become files beside them.
await build({
  ...common,
  entryPoints: {
    chat: `${root}src/chat/main.js`,
    graphiql: `${root}src/graphiql/main.jsx`,
  },
  outdir: assets,
  format: 'esm',
  jsx: 'automatic',
  loader: { '.graphql': 'text', '.ttf': 'file', '.svg': 'file', '.woff': 'file', '.woff2': 'file' },
  assetNames: '[name]-[hash]',
  publicPath: '/assets/',
});

// Monaco runs its language services in web workers; GraphiQL's Monaco
// environment (src/graphiql/workers.js) starts them from these files.
await build({
  ...common,
  entryPoints: {
    'editor.worker': 'monaco-editor/esm/vs/editor/editor.worker.js',
    'json.worker': 'monaco-editor/esm/vs/language/json/json.worker.js',
    'graphql.worker': 'monaco-graphql/esm/graphql.worker.js',
  },
  outdir: assets,
  format: 'iife',
});

await cp(`${root}src/chat/index.html`, `${scratch}/index.html`);
await cp(`${root}src/graphiql/playground.html`, `${scratch}/playground.html`);
await cp(`${root}src/common/favicon.svg`, `${assets}/favicon.svg`);
// dist/ stays in the repository (empty but for this file) so the server's
// build script can always watch it.
await writeFile(`${scratch}/.gitignore`, '*\n!.gitignore\n');
// The server's build script treats its presence as "built", its age as the
// build's.
await writeFile(`${scratch}/BUILT`, 'Built by playground/build.mjs.\n');
await rm(dist, { recursive: true, force: true });
await rename(scratch, dist);
