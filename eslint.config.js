// ESLint flat config: typescript-eslint's recommended rules, type-aware where it pays (promises), and the
// project's style limits (lines <= 120, no unused code). Formatting beyond line length is left to review.
import js from '@eslint/js'
import { defineConfig } from 'eslint/config'
import stylistic from '@stylistic/eslint-plugin'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default defineConfig(
  { ignores: ['node_modules/', 'out/', 'dist/', 'scratch/', '.tmp/', 'protocol/messages.ts'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    plugins: { '@stylistic': stylistic },
    rules: {
      // A URL or a regular expression cannot be wrapped; every other line, comments included, keeps to 120.
      '@stylistic/max-len': ['error', { code: 120, tabWidth: 2, ignoreUrls: true, ignoreRegExpLiterals: true }],
      '@typescript-eslint/no-unused-vars': ['error', {
        args: 'after-used',
        argsIgnorePattern: '^_',
        varsIgnorePattern: '^_',
        caughtErrors: 'none',
        ignoreRestSiblings: true,
      }],
      // Tensor and protobuf plumbing uses `any` at a few typed boundaries; typecheck keeps `strict` on.
      '@typescript-eslint/no-explicit-any': 'off',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'prefer-const': ['error', { destructuring: 'all' }],
    },
  },
  {
    // Type-aware rules: TypeScript sources only (the project service reads tsconfig.json).
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', {
        ignoreVoid: true,
        // node:test queues tests itself; the promise that test() and describe() return is not the result.
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }],
      }],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/await-thenable': 'error',
    },
  },
  {
    // the dashboard's static script runs in the browser
    files: ['node/observe/dashboard/**/*.js'],
    languageOptions: { globals: globals.browser },
  },
)
