// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'bench-results/**', 'src/web/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Type-aware rules, only where they are needed: a promise nobody awaits or catches loses its error (an
    // unhandled rejection ends the process) and its ordering. Type information costs lint time, so only the
    // rules that need it are on, for the TypeScript sources; each file is typed by its nearest tsconfig
    // (src/web has its own), and scripts/*.ts, which no tsconfig includes, by the root one.
    files: ['src/**/*.ts', 'src/**/*.tsx', 'scripts/**/*.ts'],
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['scripts/*.ts'], defaultProject: 'tsconfig.json' },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
    },
  },
  // One door per component: a folder directly under src/ is used by the others only through its index.ts, so
  // what a component offers is declared in one place and its insides can change freely. Shared test code
  // (src/test-support, a component's test-support/) is exempt: it is no part of a component's interface.
  // One block per folder depth, because how many '../' lead out of the component depends on it.
  ...[1, 2, 3].map((depth) => ({
    files: [`src/${'*/'.repeat(depth)}*.ts`, `src/${'*/'.repeat(depth)}*.tsx`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^(\\.\\./){${depth}}(?!test-support/)[^/]+/(?!index\\.js$)(?!test-support/)`,
              message: 'Use the other component through its index.ts (one door per component).',
            },
          ],
        },
      ],
    },
  })),
  {
    // The SP is the untrusted side: it must not be able to reach a CSP key or the CSP's plaintext paths, so it
    // imports nothing from src/csp (it speaks only src/protocol). Also keeps the one-door rule for this folder.
    files: ['src/sp/**/*.ts'],
    ignores: ['src/sp/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^\\.\\./csp/', message: 'The SP (untrusted) imports nothing from the CSP.' },
            {
              regex: '^\\.\\./(?!test-support/)[^/]+/(?!index\\.js$)',
              message: 'Use the other component through its index.ts (one door per component).',
            },
          ],
        },
      ],
    },
  },
  {
    // src/contracts is bundled into the dashboard: no I/O, and nothing but the pure HRV core and the error registry.
    files: ['src/contracts/**/*.ts'],
    ignores: ['src/contracts/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*', 'fs', 'path', 'os', 'net', 'child_process'], message: 'src/contracts is pure: no I/O.' },
            { regex: '^\\.\\./(?!hrv/index\\.js$|errors\\.js$)', message: 'src/contracts depends only on the HRV core and the error registry.' },
          ],
        },
      ],
    },
  },
  {
    // src/hrv is published on its own: no I/O and no imports from other components.
    files: ['src/hrv/**/*.ts'],
    ignores: ['src/hrv/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*', 'fs', 'path', 'os', 'net', 'child_process'], message: 'src/hrv is pure: no I/O.' },
            { group: ['../*', '!../hrv/*'], message: 'src/hrv imports nothing from other components.' },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
