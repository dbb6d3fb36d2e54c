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

/** Edit distance, for the command a mistyped one was probably meant to be. */
function distance(a, b) {
  let prev = Array.from({length: b.length + 1}, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = cur
  }
  return prev[b.length]
}

/**
 * A command name that is no command (`cnidbg exec ad`), or a topic alone under --json, as the commands
 * report a usage error (src/cli/base-command.ts): exit 2, one line with suggestions, or under --json
 * one envelope on stdout (README "JSON output"). oclif would name it `exec:ad` and print no JSON.
 */
function usageError(json, command, code, message, suggestions) {
  process.exitCode = 2
  if (json) {
    const error = {code, message, suggestions}
    const envelope = {schemaVersion: 1, command, status: 2, warnings: [], error}
    process.stdout.write(JSON.stringify(envelope, null, 2) + '\n')
    return
  }
  process.stderr.write(`Error: ${message}\n`)
  for (const s of suggestions) process.stderr.write(`  → ${s}\n`)
}

async function main(oclif) {
  const argv = process.argv.slice(2)
  const end = argv.indexOf('--')
  const flags = end < 0 ? argv : argv.slice(0, end)
  // --help and --version print what they print, --json or not.
  const json = flags.includes('--json') && !flags.includes('--help') && argv[0] !== '--version'
  // The package root: bin/package.json would otherwise pass for it.
  const config = await oclif.Config.load(join(__dirname, '..'))
  const [id = ''] = oclif.normalizeArgv(config, argv)
  const spaced = id.replaceAll(':', ' ')
  const commands = () => config.commandIDs.map((c) => c.replaceAll(':', ' '))
  if (json && (!id || id.startsWith('-'))) {
    return usageError(json, '', 'USAGE', 'Name a command.', [`See the commands: ${config.bin} --help`])
  }
  if (json && !config.findCommand(id) && config.findTopic(id)) {
    const own = commands().filter((c) => c.startsWith(`${spaced} `))
    return usageError(json, spaced, 'USAGE', `${spaced} is a group of commands: name one (${own.join(', ')}).`, [
      `See them: ${config.bin} ${spaced} --help`,
    ])
  }
  try {
    await oclif.run(argv, config)
    oclif.flush()
  } catch (error) {
    const notFound = /^command (\S+) not found$/.exec(error?.message ?? '')
    if (!notFound) return oclif.handle(error)
    const typed = notFound[1].replaceAll(':', ' ')
    const near = [...commands(), ...config.topics.map((t) => t.name.replaceAll(':', ' '))]
      .map((c) => ({c, d: distance(typed, c)}))
      .sort((a, b) => a.d - b.d)[0]
    const suggestions =
      near && near.d <= Math.max(2, Math.floor(typed.length / 3)) ? [`Did you mean ${config.bin} ${near.c}?`] : []
    const topic = typed.split(' ').slice(0, -1).join(' ')
    const scope = topic && config.findTopic(topic) ? `${topic} ` : ''
    suggestions.push(`See the commands: ${config.bin} ${scope}--help`)
    usageError(json, typed, 'COMMAND_NOT_FOUND', `Unknown command: ${config.bin} ${typed}`, suggestions)
  }
}

const {oclif, script} = loadOclif()
main(oclif).then(() => {
  // The build (scripts/bundle-cli.mjs --code-cache) runs one `trace --help` with this set.
  if (process.env.CNIDBG_WRITE_CODE_CACHE === '1') writeFileSync(cacheFile, script.createCachedData())
})
