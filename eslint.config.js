// Lint rules, including the one that holds the layers in docs/architecture.md:
// protocol clients -> repository -> engine -> service -> faces (cli/api/web). A
// lower layer never imports a higher one.
import tseslint from 'typescript-eslint';

const faces = ['**/cli/**', '**/api/**', '**/web/**'];
const service = ['**/service/**'];
const engine = ['**/engine/**'];
const storage = ['**/repo/**'];
const protocols = ['**/libvirt/**', '**/nbd/**', '**/image/**'];

const forbid = (groups) => ({
  'no-restricted-imports': [
    'error',
    {
      patterns: groups.map((group) => ({
        group,
        message: 'Layers point one way (docs/architecture.md): this import goes upward.',
      })),
    },
  ],
});

// Library code owns no process (docs/architecture.md): signal and exit handlers, exiting and
// the standard streams belong to the executable and the other faces.
const processOwnership = [
  'on',
  'once',
  'off',
  'addListener',
  'prependListener',
  'prependOnceListener',
  'removeListener',
  'removeAllListeners',
  'exit',
  'exitCode',
  'abort',
  'stdout',
  'stderr',
  'stdin',
].map((property) => ({
  object: 'process',
  property,
  message: 'Library code owns no process: take an AbortSignal or a callback from the caller.',
}));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    files: ['src/util/**'],
    rules: forbid([[...faces, ...service, ...engine, ...storage, ...protocols]]),
  },
  {
    files: ['src/libvirt/**', 'src/nbd/**', 'src/image/**'],
    rules: forbid([[...faces, ...service, ...engine, ...storage]]),
  },
  { files: ['src/repo/**'], rules: forbid([[...faces, ...service, ...engine]]) },
  { files: ['src/engine/**'], rules: forbid([[...faces, ...service]]) },
  { files: ['src/service/**'], rules: forbid([faces]) },
  {
    files: ['src/**'],
    ignores: [...faces, 'src/**/*.test.ts', 'src/**/testing/**'],
    rules: { 'no-restricted-properties': ['error', ...processOwnership] },
  },
  // Faces, scripts, tests and benchmarks talk to people: printing is their job.
  { files: ['src/cli/**', 'test/**', 'bench/**', 'scripts/**'], rules: { 'no-console': 'off' } },
);
