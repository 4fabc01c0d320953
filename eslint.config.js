// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importPlugin from 'eslint-plugin-import';

/**
 * Layering of src/ (ARCHITECTURE.md section 6): each folder may import only the folders listed
 * for it. Anything not listed is refused by lint, so imports point downward only.
 * @type {Record<string, string[]>}
 */
const allowed = {
  lib: [],
  errors: ['lib'],
  model: ['lib', 'errors'],
  store: ['lib', 'errors', 'model'],
  scheduler: ['lib', 'errors', 'model', 'allocator'],
  allocator: ['lib', 'errors', 'model'],
  broker: ['lib', 'errors', 'model', 'store'],
  taskcontrol: ['lib', 'errors', 'model'],
  runtime: ['lib', 'errors', 'model', 'image'],
  image: ['lib', 'errors', 'model'],
  // X.509 building blocks (keys, CSRs, parsing): auth issues certificates with them, and the agent
  // makes its own key and CSR with them, so the host key never leaves the host.
  x509: ['lib', 'errors'],
  auth: ['lib', 'errors', 'model', 'store', 'x509'],
  client: ['lib', 'errors', 'model'],
  server: [
    'lib',
    'errors',
    'model',
    'store',
    'scheduler',
    'allocator',
    'broker',
    'taskcontrol',
    'image',
    'auth',
  ],
  agent: ['lib', 'errors', 'model', 'runtime', 'image', 'client', 'x509'],
  mesh: ['lib', 'errors', 'model', 'client'],
  configdist: ['lib', 'errors', 'model', 'client'],
  telemetry: ['lib', 'errors', 'model', 'client'],
  cli: ['lib', 'errors', 'model', 'client'],
};
const zones = Object.entries(allowed).map(([target, ok]) => ({
  target: `./src/${target}`,
  from: './src',
  except: [`./${target}`, ...ok.map((f) => `./${f}`)],
  message: `src/${target} may import only: ${[target, ...ok].join(', ')} (see ARCHITECTURE.md section 6).`,
}));

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
    files: ['eslint.config.js', 'examples/**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // Example services are plain JavaScript that runs on any Node.
    files: ['examples/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly' } },
  },
);
