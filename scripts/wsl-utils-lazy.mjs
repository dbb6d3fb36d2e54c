// wsl-utils as oclif core uses it, for the CLI bundle (scripts/bundle-cli.mjs). oclif imports wsl-utils on
// every start (util/os.js, getPlatform) to read isWsl, and wsl-utils loads node:child_process,
// node:fs/promises and powershell-utils at its top for its other helpers, of which oclif calls only
// powerShellPath, on Windows. This module has those two: isWsl from is-wsl, the very module wsl-utils
// re-exports it from, and powerShellPath, which loads wsl-utils when it is called.
// test/scripts/wsl-utils-lazy.ts holds the two equal.
export {default as isWsl} from 'is-wsl'

export const powerShellPath = async (...args) => (await import('wsl-utils')).powerShellPath(...args)
