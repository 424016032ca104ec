// make lint: ESLint with typescript-eslint over src/, test/ and bench/.
// The type-aware rules are the ones that catch real bugs in async code
// (a promise nobody awaits or catches, a promise where a callback belongs).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // src/generated/ is proto-loader-gen-types' output (make proto-types).
  { ignores: ['dist/', 'node_modules/', 'test/node24/', '.cache/', 'src/generated/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
      // A closure may read the variable before its one assignment (a callback set up first).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // Services log through pino; console is for the tests' and benchmarks' own output.
    files: ['src/**/*.ts'],
    rules: { 'no-console': 'error' },
  },
);
