// Runs the TypeScript test files and the sources they import, without ts-node: module hooks
// (node:module register) that transpile .ts and .tsx with esbuild, and resolve an import of `x.js`
// to `x.ts` or `x.tsx` beside it, as tsc's Node16 resolution does. Every test process loads it through
// NODE_OPTIONS (test-env in package.json's tap config); test-env TAP_TYPE_STRIP_ONLY=1 keeps
// @tapjs/typescript from loading ts-node as well. ts-node cost each test process about a second of
// CPU (it loads the typescript compiler to read tsconfig.json, and starts esbuild's service through a
// second thread), more than most test files take to run. Type-checking was never part of a test run
// (`npm test` runs tsc on its own), so transpiling alone loses nothing.
import {register} from 'node:module'

register('./test-loader-hooks.mjs', import.meta.url)

// This loader comes in through NODE_OPTIONS, so that Node loads it before the --imports of tap's runner:
// its hooks then stand an empty module in for tap's process tracker (test-loader-hooks.mjs says why).
// tap's runner also puts the tracker's --import into NODE_OPTIONS, after this one. The programs a test
// starts (the CLI, the bundled plugins, the lab's programs) must start as a user's would, so both come
// out of the NODE_OPTIONS they inherit. (The tracker's spawn hook, which put it back into every
// child's environment, is never installed now that the tracker does not load.)
// test/scripts/test-loader.ts fails should either reach a child.
const TRACKER = '@tapjs/processinfo/dist/esm/import.mjs'
const OWN = '/scripts/test-loader.mjs'
/** An --import of the tracker or of this loader (one word, maybe in double quotes, as tap writes it). */
const preload = (word) => {
  const w = word.replace(/^"|"$/g, '')
  return w.endsWith(TRACKER) || (w.startsWith('--import=') && w.endsWith(OWN))
}
if (process.env.NODE_OPTIONS !== undefined) {
  const rest = process.env.NODE_OPTIONS.split(/\s+/).filter((word) => word && !preload(word))
  if (rest.length) process.env.NODE_OPTIONS = rest.join(' ')
  else delete process.env.NODE_OPTIONS
}

// NODE_EXTRA_CA_CERTS (set machine-wide on some hosts, for a proxy's CA) makes every Node process parse
// that CA bundle as it starts: about 40 ms of CPU on each, twice what the rest of a bare `node -e 0`
// costs. The suite starts thousands of Node processes (the CLI, the plugins, the lab's programs), and
// nothing in it trusts a CA it did not make (the lab API server, the agents and the tests' servers
// each hand their own CA to their clients), so the processes the tests start go without it.
// scripts/test.sh also runs tap without it, so the test processes themselves are spared too.
delete process.env.NODE_EXTRA_CA_CERTS
