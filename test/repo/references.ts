// Comments and docs cite only what is in the repository: SPEC.md section names, checklist ids from
// fixtures/spec, files in docs/ and src/. Tags and numbers that point at documents a reader of the
// repository can't open (planning tags like "(G3)", issue or pull-request numbers, notes kept outside
// the repository) fail here, so a new one is caught where it is written.
import {readdirSync, readFileSync, statSync} from 'node:fs'
import {join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'

import t from 'tap'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const SELF = relative(ROOT, fileURLToPath(import.meta.url))
const TREES = ['src', 'test', 'scripts', 'bench', 'docs', 'fixtures/conf', 'bin']
const FILES = ['README.md', 'eslint.config.mjs']
const TEXT = /\.(ts|tsx|mjs|js|cjs|sh|md|json|conflist|conf)$|^[^.]+$/

/** What points outside the repository, with why each is not allowed. */
export const OUTSIDE: Array<[RegExp, string]> = [
  [/\(G\d+\b|\bG\d+\)|\(G\d+,|, G\d+\b/, 'a planning tag such as (G3)'],
  [/\b[Ii]ssues? #?\d+\b/, 'an issue number'],
  [/\b(PR|pull request) #?\d+\b/i, 'a pull-request number'],
  [/\b[\w.-]+\/[\w.-]+#\d+\b/, 'an owner/repo#number reference'],
  [/\b[A-Za-z][\w-]* #\d+\b/, 'a "project #number" reference'],
  [/shared\/reference|style-anchors|lab-notes\.md|trace-and-overlay-anchors|team's reference/, 'a team note'],
  [/\b(by|in|from) (a|an earlier|the last|the previous) session\b/i, 'a working session'],
]

function* walk(dir: string): Generator<string> {
  for (const name of readdirSync(join(ROOT, dir))) {
    if (name === 'node_modules' || name === 'dist') continue
    const rel = join(dir, name)
    if (statSync(join(ROOT, rel)).isDirectory()) yield* walk(rel)
    else if (TEXT.test(name)) yield rel
  }
}

/** Every line of the files, with the first rule it breaks. */
export function findOutsideReferences(
  files: Iterable<string>,
  read = (f: string) => readFileSync(join(ROOT, f), 'utf8'),
) {
  const found: string[] = []
  for (const f of files) {
    read(f)
      .split('\n')
      .forEach((line, i) => {
        const rule = OUTSIDE.find(([re]) => re.test(line))
        if (rule) found.push(`${f}:${i + 1}: ${rule[1]}: ${line.trim()}`)
      })
  }
  return found
}

t.test('the rules catch what they are for, and leave ordinary text alone', async (t) => {
  const cases: Record<string, boolean> = {
    '// Verbs stay thin (G1).': true,
    '/** Base (G2, G4, G5): */': true,
    '* the engine of `cnidbg trace` (issue 6).': true,
    '// cnitool does this (PR #508)': true,
    '// see containernetworking/cni#571': true,
    '// flannel #1795': true,
    "// next to the team's reference": true,
    '// a filed by a session note, written in an earlier session': true,
    '// SPEC §3 "Adding an attachment" (R20), P35, docs/lab.md': false,
    "return s.replace(/\\n/g, '&#10;')": false,
    "'  classDef unknown fill:#eee,stroke:#999',": false,
    '// It leads its own session and process group': false,
  }
  for (const [line, bad] of Object.entries(cases))
    t.equal(findOutsideReferences(['x'], () => line).length > 0, bad, `${bad ? 'caught' : 'allowed'}: ${line}`)
})

t.test('no comment or doc in the repository points outside it', async (t) => {
  const files = [...TREES.flatMap((d) => [...walk(d)]), ...FILES].filter((f) => f !== SELF)
  t.ok(files.length > 100, `${files.length} files read`)
  t.same(findOutsideReferences(files), [], 'cite SPEC.md sections, checklist ids or files in the repository')
})
