import js from '@eslint/js'
import prettier from 'eslint-config-prettier'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {ignores: ['dist/**', 'node_modules/**', '.tap/**', 'bench/results/**']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
      'no-console': 'error',
    },
  },
  {
    // Subprocesses are started only from src/process (docs/architecture.md), so every command we run is
    // visible in one place.
    files: ['src/**/*.ts', 'src/**/*.tsx'],
    ignores: ['src/process/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {name: 'execa', message: 'Run subprocesses through src/process.'},
            {name: 'node:child_process', message: 'Run subprocesses through src/process.'},
            {name: 'child_process', message: 'Run subprocesses through src/process.'},
          ],
        },
      ],
    },
  },
  {
    files: ['test/**', 'bench/**', 'scripts/**', 'fixtures/**', 'bin/**'],
    rules: {'no-console': 'off', '@typescript-eslint/no-explicit-any': 'off'},
  },
  {
    // CommonJS: bin/run.js (bin/package.json) and the .cjs helpers the CLI bundle takes in.
    files: ['bin/**/*.js', '**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        exports: 'writable',
        __dirname: 'readonly',
        __filename: 'readonly',
      },
    },
    rules: {'@typescript-eslint/no-require-imports': 'off'},
  },
)
