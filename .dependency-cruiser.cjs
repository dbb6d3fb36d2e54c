/**
 * The folder layers of src/ (docs/architecture.md draws them). A folder may import its own layer's
 * allowed neighbours and any folder of a lower layer, never a higher one; `npm run lint` runs this.
 */

// Lowest first. Each folder lists the folders of its own layer it may import (the layer below is
// always allowed), so a cycle between folders cannot be written.
const LAYERS = [
  {core: []},
  {process: [], netns: ['process']},
  {runtime: [], kernel: ['runtime']},
  {
    kube: [],
    checks: [],
    'reference-plugin': [],
    daemon: ['kube'],
    conformance: ['checks'],
    trace: ['kube'],
    agent: ['kube'],
    'service-proxy': ['kube'],
    lab: ['kube', 'daemon', 'reference-plugin', 'trace', 'service-proxy'],
  },
  {services: []},
  {ui: []},
  {cli: [], commands: ['cli']},
]

const rank = new Map()
LAYERS.forEach((layer, i) => Object.keys(layer).forEach((f) => rank.set(f, i)))

const layerRules = LAYERS.flatMap((layer, i) =>
  Object.entries(layer).map(([folder, peers]) => {
    const below = [...rank].filter(([, r]) => r < i).map(([f]) => f)
    const allowed = [folder, ...peers, ...below]
    return {
      name: `layer-${folder}`,
      comment: `src/${folder} is in layer ${i + 1}: it may import only ${allowed.join(', ')}.`,
      severity: 'error',
      from: {path: `^src/${folder}/`},
      to: {path: '^src/', pathNot: `^src/(${allowed.join('|')})/`},
    }
  }),
)

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No module may import itself through others, types included.',
      severity: 'error',
      from: {path: '^src/'},
      to: {circular: true},
    },
    {
      name: 'unknown-folder',
      comment: 'Every file of src/ lives in a folder that has a layer (add new folders to LAYERS).',
      severity: 'error',
      from: {path: '^src/', pathNot: `^src/(${[...rank.keys()].join('|')})/`},
      to: {},
    },
    ...layerRules,
    {
      name: 'commands-are-thin',
      comment:
        'Commands parse flags, call one service and render: they import services, ui, cli and the core vocabulary (errors, exit codes).',
      severity: 'error',
      from: {path: '^src/commands/'},
      to: {path: '^src/', pathNot: '^src/(services|ui|cli|commands|core)/'},
    },
    {
      name: 'ink-react-only-in-ui',
      comment: 'Views live in ui; everything else hands it plain data or events.',
      severity: 'error',
      from: {path: '^src/', pathNot: '^src/ui/'},
      to: {path: 'node_modules/(ink|react|ink-[^/]+)/'},
    },
    {
      name: 'client-node-only-in-kube',
      comment: 'src/kube is the one door to @kubernetes/client-node (bundled at build for start-up).',
      severity: 'error',
      from: {path: '^src/', pathNot: '^src/kube/'},
      to: {path: 'node_modules/@kubernetes/client-node/'},
    },
    {
      name: 'plugin-bundle-is-standalone',
      comment:
        'cnidbg-ref runs on every pod start: its code imports only core, process and the namespace door, never the CLI.',
      severity: 'error',
      from: {path: '^src/reference-plugin/'},
      to: {path: '^src/', pathNot: '^src/(reference-plugin|core|process)/|^src/netns/enter[.]ts$'},
    },
  ],
  options: {
    doNotFollow: {path: 'node_modules'},
    tsPreCompilationDeps: true,
    tsConfig: {fileName: 'tsconfig.json'},
    enhancedResolveOptions: {extensions: ['.ts', '.tsx', '.js', '.mjs', '.json']},
  },
}
