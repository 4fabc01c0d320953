// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importPlugin from 'eslint-plugin-import';

/**
 * Layering of src/ (docs/architecture.md, "Layers"): each folder may import only the folders listed
 * for it. Anything not listed is refused by lint, so imports point downward only. Only folders that
 * exist are listed: a new folder (broker/, taskcontrol/, mesh/ are planned)
 * gets its zone here, with what it may import and who may import it, in the commit that creates it.
 * @type {Record<string, string[]>}
 */
const allowed = {
  lib: [],
  errors: ['lib'],
  model: ['lib', 'errors'],
  store: ['lib', 'errors', 'model'],
  scheduler: ['lib', 'errors', 'model', 'allocator'],
  allocator: ['lib', 'errors', 'model'],
  runtime: ['lib', 'errors', 'model', 'image'],
  image: ['lib', 'errors', 'model'],
  // X.509 building blocks (keys, CSRs, parsing): auth issues certificates with them, and the agent
  // makes its own key and CSR with them, so the host key never leaves the host.
  x509: ['lib', 'errors'],
  auth: ['lib', 'errors', 'model', 'store', 'x509'],
  // Time series (and later log tables, collection): the agent's host side and the server's side
  // will import it; today the storage engine (tsdb/) needs only lib and errors.
  telemetry: ['lib', 'errors', 'model', 'client', 'sdk'],
  // The service mesh: its server side (mesh/server: discovery, the dependency file's versions) reads
  // the store; its host side (mesh/host: HAProxy, supervised by the agent) talks to the server
  // through client/. The server imports only mesh/server, the agent only mesh/host.
  mesh: ['lib', 'errors', 'model', 'store', 'client'],
  client: ['lib', 'errors', 'model'],
  // Config distribution (docs/config.md): its server side (the versioned config store, over the
  // Store and the image blob store) and its host side (what the agent runs for its tasks, talking
  // to the server through client/). The two halves meet only through model/ types and HTTP.
  'configdist/server': ['lib', 'errors', 'model', 'store', 'image'],
  'configdist/host': ['lib', 'errors', 'model', 'client'],
  server: [
    'lib',
    'errors',
    'model',
    'store',
    'scheduler',
    'allocator',
    'image',
    'auth',
    'telemetry',
    'mesh',
    'configdist/server',
    'taskcontrol',
    'remediation',
  ],
  agent: [
    'lib',
    'errors',
    'model',
    'runtime',
    'image',
    'client',
    'x509',
    'telemetry',
    'mesh',
    'configdist/host',
  ],
  // A job's external controller: the gate over the scheduler's plans (pure) and the requests to
  // the controller, driven by the server's scheduler loop.
  taskcontrol: ['lib', 'errors', 'model', 'scheduler'],
  // Auto-remediation's decision (pure: rules and facts in, decisions out); the server acts on it.
  remediation: ['lib', 'errors', 'model'],
  // What services import. counters/ (FB303-style counters): standalone, plain Node, imports
  // nothing internal; taskcontrol/ (a controller helper): the wire types from model.
  'sdk/counters': [],
  'sdk/taskcontrol': ['lib', 'errors', 'model'],
  cli: ['lib', 'errors', 'model', 'client'],
};
const zones = Object.entries(allowed).map(([target, ok]) => ({
  target: `./src/${target}`,
  from: './src',
  except: [`./${target}`, ...ok.map((f) => `./${f}`)],
  message: `src/${target} may import only: ${[target, ...ok].join(', ')} (see docs/architecture.md, "Layers").`,
}));
// The seam inside a folder with a host side and a server side: each side stays on its own.
const sides = [
  [
    './src/mesh/host',
    './src/mesh/server',
    'the host side of the mesh talks to the server only through client/',
  ],
  ['./src/mesh/host', './src/store', 'the host side of the mesh talks to the server only through client/'],
  ['./src/mesh/server', './src/mesh/host', 'the server side of the mesh does not run proxies'],
  ['./src/mesh/server', './src/client', 'the server side of the mesh reads the store, not the API'],
  ['./src/server', './src/mesh/host', 'the server imports only the server side of the mesh'],
  ['./src/agent', './src/mesh/server', 'the agent imports only the host side of the mesh'],
].map(([target, from, message]) => ({ target, from, message }));
zones.push(...sides.map((z) => ({ ...z, except: [] })));

// The web UI (web/) runs in a browser and talks to the control plane only through the typed client
// (ARCHITECTURE: "The CLI and UI use only client/"), with the model's types and pure helpers.
zones.push({
  target: './web',
  from: './src',
  except: ['./client', './model', './lib', './errors'],
  message: 'web/ may import only src/client, src/model, src/lib and src/errors (see docs/ui.md).',
});

export default tseslint.config(
  { ignores: ['node_modules/**', 'web/dist/**', '.dabba/**', 'tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { import: importPlugin },
    settings: {
      'import/resolver': { node: { extensions: ['.ts', '.js'] } },
      'import/parsers': { '@typescript-eslint/parser': ['.ts'] },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      // A switch over a union without a default handles every member (the four switches with a
      // deliberate default, e.g. on process.arch, keep it).
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true },
      ],
      // The cheap part of strictTypeChecked. Left out, with their counts when last measured:
      // no-confusing-void-expression (183), no-non-null-assertion (119), restrict-template-expressions
      // with only numbers allowed (74; it stays at recommended's options), no-dynamic-delete (4),
      // no-invalid-void-type (3, on Promise.withResolvers<void>), no-unnecessary-type-parameters (1,
      // getJson<T>), no-unnecessary-condition (not cheap).
      '@typescript-eslint/no-meaningless-void-operator': 'error',
      '@typescript-eslint/no-mixed-enums': 'error',
      '@typescript-eslint/no-unnecessary-boolean-literal-compare': 'error',
      '@typescript-eslint/no-unnecessary-template-expression': 'error',
      '@typescript-eslint/no-unnecessary-type-arguments': 'error',
      '@typescript-eslint/prefer-return-this-type': 'error',
      '@typescript-eslint/prefer-reduce-type-parameter': 'error',
      '@typescript-eslint/prefer-literal-enum-member': 'error',
      '@typescript-eslint/use-unknown-in-catch-callback-variable': 'error',
      '@typescript-eslint/no-deprecated': 'error',
      '@typescript-eslint/no-extraneous-class': 'error',
      '@typescript-eslint/no-useless-constructor': 'error',
      '@typescript-eslint/no-misused-spread': 'error',
      '@typescript-eslint/related-getter-setter-pairs': 'error',
      '@typescript-eslint/unified-signatures': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import/no-cycle': ['error', { ignoreExternal: true }],
      'import/no-restricted-paths': ['error', { zones }],
      'no-restricted-syntax': [
        'error',
        {
          selector: 'TSEnumDeclaration',
          message: 'Use a union of string literals (enums are not erasable).',
        },
      ],
    },
  },
  {
    // The house rule (docs/architecture.md, "Code size"): no file over 500 lines, no function over
    // about 100. A file that grows past it is split along its seams (one concept per file); a long
    // function is cut into named steps.
    files: ['src/**/*.ts', 'scripts/**/*.ts', 'bench/**/*.ts', 'test/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 500 }],
      'max-lines-per-function': ['error', { max: 110 }],
    },
  },
  {
    // A test file's describe() is a suite, not a function: the file keeps the 500-line limit.
    files: ['**/*.test.ts'],
    rules: { 'max-lines-per-function': 'off' },
  },
  {
    // The scheduler and allocator are pure: state in, decisions out. No I/O, no clock, no randomness.
    files: ['src/scheduler/**/*.ts', 'src/allocator/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*', 'fs', 'net', 'http', 'child_process'], message: 'Pure code: no I/O.' },
          ],
        },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'Inject a clock.' },
        { object: 'Math', property: 'random', message: 'Inject randomness.' },
      ],
    },
  },
  {
    // Browser code: no node modules (the build refuses them too, see scripts/build-ui.ts).
    files: ['web/**/*.ts', 'web/**/*.tsx'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['node:*', 'undici', 'pino'], message: 'The web UI runs in a browser.' }] },
      ],
    },
  },
  {
    files: ['eslint.config.js', 'examples/**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // Example services are plain JavaScript that runs on any Node.
    files: ['examples/**/*.mjs'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        fetch: 'readonly',
        URL: 'readonly',
        Buffer: 'readonly',
        AbortSignal: 'readonly',
      },
    },
  },
);
