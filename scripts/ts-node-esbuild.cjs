// A ts-node transpiler (the "transpiler" option in tsconfig.test.json) that uses esbuild instead of
// typescript's transpileModule. tap runs every test file through ts-node in transpile-only mode, so
// type-checking was never part of a test run (`npm test` runs tsc on its own). Every test process
// transpiles every source file it imports again; esbuild does that several times cheaper.
// ts-node loads transpilers with require(), hence CommonJS.
'use strict'
const {transformSync} = require('esbuild')

exports.create = function create({nodeModuleEmitKind}) {
  const format = nodeModuleEmitKind === 'nodecjs' ? 'cjs' : 'esm'
  return {
    transpile(input, {fileName}) {
      const {code, map} = transformSync(input, {
        format,
        jsx: 'automatic',
        loader: /\.[cm]?tsx$|\.jsx$/.test(fileName) ? 'tsx' : 'ts',
        sourcefile: fileName,
        sourcemap: 'external',
        target: 'node20',
        // The compiler options that change emit (tsconfig.json): ES2022 class fields, react-jsx.
        tsconfigRaw: {compilerOptions: {jsx: 'react-jsx', target: 'ES2022', useDefineForClassFields: true}},
      })
      return {outputText: code, sourceMapText: map}
    },
  }
}
