// Turns src/ into dist/, one JavaScript module per TypeScript file at the same path: what the bundlers
// read (scripts/bundle-kube.mjs, bundle-cli.mjs) and what the lab's background programs run from
// (dist/lab/supervisor-main.js, dist/lab/apiserver/main.js).
//
// esbuild transpiles file by file; the types are checked once, over src/ and test/ together, by
// `tsc -p tsconfig.test.json` in scripts/test.sh. Emitting with tsc here checked src/ a second time:
// about 13 s of CPU in a 2-core build, most of the build. tsconfig.json sets isolatedModules, so tsc
// rejects anything a file-by-file transpiler would get wrong (a re-export of a type without `type`, a
// const enum used across files).
import {readdirSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {build} from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))
const src = join(root, 'src')
const entryPoints = readdirSync(src, {recursive: true, withFileTypes: true})
  .filter((e) => e.isFile() && /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts'))
  .map((e) => join(e.parentPath ?? e.path, e.name))

await build({
  entryPoints,
  outdir: join(root, 'dist'),
  outbase: src,
  bundle: false,
  format: 'esm',
  platform: 'node',
  // tsconfig.json's target, so the output is what tsc emitted.
  target: 'es2022',
  tsconfig: join(root, 'tsconfig.json'),
  logLevel: 'warning',
})
process.stderr.write(`transpiled ${entryPoints.length} files from src/ to dist/\n`)
