// Runs the TypeScript test files and the sources they import, without ts-node: module hooks
// (node:module register) that transpile .ts and .tsx with esbuild, and resolve an import of `x.js`
// to `x.ts` or `x.tsx` beside it, as tsc's Node16 resolution does. tap loads this into every test
// process (node-arg in package.json's tap config); test-env TAP_TYPE_STRIP_ONLY=1 keeps
// @tapjs/typescript from loading ts-node as well. ts-node cost each test process about a second of
// CPU (it loads the typescript compiler to read tsconfig.json, and starts esbuild's service through a
// second thread), more than most test files take to run. Type-checking was never part of a test run
// (`npm test` runs tsc on its own), so transpiling alone loses nothing.
import {register} from 'node:module'

register('./test-loader-hooks.mjs', import.meta.url)
