// Compiles and runs dist/kube/client.cjs (client-node's bundle) with V8's code cache beside it,
// client.cjs.cache, as bin/run.js does run.cjs: Node 20 has no compile cache for ES modules.
// scripts/bundle-kube.mjs copies this file to dist/kube/client-loader.cjs, where the door (client.js)
// loads the client through it, and makes the cache through it too: V8 takes a cache only for the very
// source it was made from, so the two must wrap the bundle the same way, and one function does both.
// A missing cache, or one from another Node or V8 (which V8 rejects), means compiling as usual.
'use strict'
const {readFileSync} = require('node:fs')
const {createRequire} = require('node:module')
const {dirname} = require('node:path')
const vm = require('node:vm')

/**
 * The bundle's exports, and the compiled script (its `cachedDataRejected`, its `createCachedData()`).
 * `cache: false` compiles without the cache (the build, which makes it).
 */
function loadClient(file, {cache = true} = {}) {
  let cachedData
  if (cache) {
    try {
      cachedData = readFileSync(`${file}.cache`)
    } catch {
      // No cache: compiled without one.
    }
  }
  const source = `(function (exports, require, module, __filename, __dirname) {${readFileSync(file, 'utf8')}\n})`
  const script = new vm.Script(source, {filename: file, cachedData})
  const module = {exports: {}}
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file))
  return {exports: module.exports, script}
}

module.exports = {loadClient}
