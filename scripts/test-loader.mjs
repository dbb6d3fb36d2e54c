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

// tap's process tracker (@tapjs/processinfo, which records what a test runs for coverage) puts itself
// into NODE_OPTIONS of every process a test starts, through a hook on every spawn: each Node program
// the tests run (the CLI, the bundled plugins, the lab's programs) then loaded it and a loader thread,
// about 120 ms of CPU per start, several times what `cnidbg --version` costs. Coverage is off
// (package.json), so the tests' children start as a user's would: without it.
//
// This loader itself comes in through NODE_OPTIONS (package.json's tap test-env), so that Node loads it
// before the --imports of tap's runner (test-loader-hooks.mjs says why); the tests' children must not
// inherit it either.
const TRACKER = '@tapjs/processinfo/dist/esm/import.mjs'
const OWN = '/scripts/test-loader.mjs'
/** An --import of the tracker or of this loader (as tap writes it: one word, maybe in double quotes). */
const preload = (word) => {
  const w = word.replace(/^"|"$/g, '')
  return w.endsWith(TRACKER) || (w.startsWith('--import=') && w.endsWith(OWN))
}
const tracked = process.env.NODE_OPTIONS?.includes(TRACKER)
if (process.env.NODE_OPTIONS !== undefined) {
  const rest = process.env.NODE_OPTIONS.split(/\s+/).filter((word) => word && !preload(word))
  if (rest.length) process.env.NODE_OPTIONS = rest.join(' ')
  else delete process.env.NODE_OPTIONS
}
if (tracked) {
  // The tracker's own spawn hook (process-on-spawn, as the tracker resolves it) adds it back to every
  // child's environment. Its only user here is the tracker, so the hook comes off altogether (the
  // module's own unwrap): it also rebuilt every child's environment twice over in JavaScript, about
  // 0.4 ms of CPU per spawn, and a test file spawns up to thousands of programs.
  // test/scripts/test-loader.ts fails should a new version of the module change that.
  const hooks = globalThis[Symbol.for('process-on-spawn@*:singletonId')]
  if (hooks) {
    hooks.listeners = []
    hooks.unwrap()
  }
}

// NODE_EXTRA_CA_CERTS (set machine-wide on some hosts, for a proxy's CA) makes every Node process parse
// that CA bundle as it starts: about 40 ms of CPU on each, twice what the rest of a bare `node -e 0`
// costs. The suite starts thousands of Node processes (the CLI, the plugins, the lab's programs), and
// nothing in it trusts a CA it did not make (the lab API server, the agents and the tests' servers
// each hand their own CA to their clients), so the processes the tests start go without it.
// scripts/test.sh also runs tap without it, so the test processes themselves are spared too.
delete process.env.NODE_EXTRA_CA_CERTS
