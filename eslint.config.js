// Lint: typescript-eslint with type information, so that floating and misused promises are errors
// (every async boundary must catch and report), plus an import-boundary rule that keeps the parts apart
// (docs/ARCHITECTURE.md lists which folder may import which).
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import stylistic from '@stylistic/eslint-plugin'

const boundaries = {
  core: ['core'],
  broker: ['core', 'broker'],
  devices: ['core', 'devices'],
  bridge: ['core', 'bridge'],
  scenarios: ['core', 'broker', 'devices', 'bridge', 'scenarios'],
  cli: ['core', 'broker', 'devices', 'bridge', 'scenarios', 'cli', 'bench']
}

const restrictFor = (part) => {
  const banned = Object.keys(boundaries).filter((p) => !boundaries[part].includes(p))
  return {
    files: [`${part}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: banned.map((p) => ({
          group: [`../${p}/*`, `../../${p}/*`, `../${p}`, `../../${p}`],
          message: `${part}/ may not import ${p}/ (see docs/ARCHITECTURE.md)`
        }))
      }]
    }
  }
}

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'coverage/**', 'bin/**', 'eslint.config.js', 'bench/load/worker-entry.mjs', 'broker/thread-entry.mjs'] },
  js.configs.recommended,
  // Formatting is lint: `npm run format` is `eslint --fix`. The house style of aedes and MQTT.js (standard):
  // no semicolons, single quotes, two-space indent, a space before a function's parentheses.
  stylistic.configs.customize({ semi: false, quotes: 'single', indent: 2, commaDangle: 'never', braceStyle: '1tbs', arrowParens: true }),
  {
    rules: {
      '@stylistic/space-before-function-paren': ['error', 'always'],
      '@stylistic/max-statements-per-line': 'off',
      '@stylistic/brace-style': ['error', '1tbs', { allowSingleLine: true }],
      '@stylistic/operator-linebreak': 'off',
      '@stylistic/multiline-ternary': 'off',
      '@stylistic/quote-props': ['error', 'as-needed'],
      '@stylistic/arrow-parens': ['error', 'always'],
      '@stylistic/member-delimiter-style': ['error', { multiline: { delimiter: 'none' }, singleline: { delimiter: 'semi', requireLast: false } }],
      '@stylistic/list-style': 'off',
      '@stylistic/quotes': ['error', 'single', { avoidEscape: true, allowTemplateLiterals: 'always' }]
    }
  },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname }
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }]
    }
  },
  ...Object.keys(boundaries).map(restrictFor),
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off'
    }
  }
)
