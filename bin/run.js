#!/usr/bin/env node
'use strict'
// cnidbg's entry (CommonJS: bin/package.json). oclif core is bundled into one file, dist/bundle/run.cjs, and
// each command into its own under dist/bundle/commands (scripts/bundle-cli.mjs). run.cjs is compiled here
// with the V8 code cache the build wrote beside it, so `--version` and `--help` neither resolve hundreds
// of modules nor compile them. A cache from another Node or V8 is rejected by V8, and run.cjs is then
// compiled as usual.
const {readFileSync, writeFileSync} = require('node:fs')
const Module = require('node:module')
const {dirname, join} = require('node:path')
const vm = require('node:vm')

const file = join(__dirname, '..', 'dist', 'bundle', 'run.cjs')
const cacheFile = `${file}.cache`

/** Loads run.cjs as require() would, and registers it so the commands' imports of it get this instance. */
function loadOclif() {
  let source
  try {
    source = readFileSync(file, 'utf8')
  } catch {
    process.stderr.write(`cnidbg is not built: ${file} is missing. Run \`npm run build\`.\n`)
    process.exit(70)
  }
  let cachedData
  try {
    cachedData = readFileSync(cacheFile)
  } catch {
    // No cache: compile without one.
  }
  // Node 20 gives code compiled by vm.Script no import(): oclif imports the (ESM) command modules with
  // this file's, passed in as __cnidbgHostImport (scripts/bundle-cli.mjs points its calls there).
  const wrapper = `(function (exports, require, module, __filename, __dirname, __cnidbgHostImport) {${source}\n})`
  const script = new vm.Script(wrapper, {filename: file, cachedData})
  const mod = new Module(file, module)
  mod.filename = file
  mod.paths = Module._nodeModulePaths(dirname(file))
  Module._cache[file] = mod
  const hostImport = (specifier) => import(specifier)
  script.runInThisContext()(mod.exports, Module.createRequire(file), mod, file, dirname(file), hostImport)
  mod.loaded = true
  return {oclif: mod.exports, script}
}

const {oclif, script} = loadOclif()
// The package root: bin/package.json would otherwise pass for it.
oclif.execute({dir: join(__dirname, '..')}).then(() => {
  // The build (scripts/bundle-cli.mjs --code-cache) runs one `trace --help` with this set.
  if (process.env.CNIDBG_WRITE_CODE_CACHE === '1') writeFileSync(cacheFile, script.createCachedData())
})
