import {readFileSync} from 'node:fs'

import {shellQuote} from '../core/quote.js'
import {which} from '../process/lite-exec.js'
import {planAdd, undoAdd} from './cmd-add.js'
import {delFailed, planDel} from './cmd-del.js'
import {refPlugin} from './plugin-ref.js'
import {LINK_GONE_MESSAGES} from './node-exec.js'
import {DEFAULT_SERVER_DIR, serveMain} from './serve.js'
import {CURRENT_VERSION} from './versions.js'
import {finish, pluginMain, readStdin, runPlugin, type PluginFuncs} from './skel.js'

/**
 * The shell front of cnidbg-ref. Forking a Node process costs about 6 ms more than forking a shell on
 * an idle 2-core node, and far more on a node starting many pods at once, so on the hot path Node
 * never forks. `dist/plugins/cnidbg-ref` is one file that is both a shell script and the Node bundle:
 * `/bin/sh` runs the header below and always exits before the end of it, and for Node the header is a
 * string and a comment. For ADD and DEL, Node (`--plan`) does the checks, IPAM and the result, and
 * prints the kernel work as `ip -batch` lines in shell assignments; the shell runs them, the node side
 * first, then the pod side in CNI_NETNS. If a batch fails, Node runs again (`--undo`, `--del-failed`)
 * to roll back and print the CNI error. Every other verb execs Node alone, with the arguments the
 * front was given (`cnidbg-ref --serve` starts the plugin server). `node cnidbg-ref` runs the
 * whole plugin in one Node process (cmdAdd), as the single executable does. With a plugin server on
 * the node (serve.ts), the front hands ADD and DEL to it and Node does not start at all.
 */
export function frontScript(nodePath: string, tools = {mkfifo: which('mkfifo'), rm: which('rm')}): string {
  const script = `#!/bin/sh
":" /*
# cnidbg-ref, the CNI plugin. This header is the shell front (src/reference-plugin/front.ts says why);
# after it comes the plugin's Node code, which this file also is.
node=${shellQuote(nodePath)}
case "$CNI_COMMAND" in
ADD | DEL) ;;
*) exec "$node" "$0" "$@" ;;
esac
# A plugin server on this node (cnidbg-ref --serve; serve.ts has the protocol) does the work while this
# shell waits. It must be the live process its pid file names (state Z or X is a server that died but
# was not yet waited for); "-" or end-of-file means do it here.
srv=\${CNIDBG_REF_SERVER:-${DEFAULT_SERVER_DIR}}
if [ -p "$srv/req" ] && read -r spid sstart 2>/dev/null <"$srv/pid" &&
  read -r st 2>/dev/null <"/proc/$spid/stat"; then
  set -- \${st##*) }
  if [ "$1" != Z ] && [ "$1" != X ] && [ "\${20}" = "$sstart" ] && ${shellQuote(tools.mkfifo)} -m 600 "$srv/c.$$" 2>/dev/null; then
    while IFS= read -r l || [ -n "$l" ]; do printf '%s\\n' "$l"; done >"$srv/c.$$.in"
    echo "$$" 1<>"$srv/req"
    {
      read -r rc nerr <&3 || rc=
      case "$rc" in
      [0-9]*)
        while [ "$nerr" -gt 0 ] && IFS= read -r l <&3; do
          printf '%s\\n' "$l" >&2
          nerr=$((nerr - 1))
        done
        while IFS= read -r l <&3 || [ -n "$l" ]; do printf '%s\\n' "$l"; done
        exit "$rc"
        ;;
      esac
    } 3<"$srv/c.$$"
    # Not served: the config goes back on stdin for the code below.
    if [ -f "$srv/c.$$.in" ]; then
      exec <"$srv/c.$$.in"
      ${shellQuote(tools.rm)} -f "$srv/c.$$.in"
    else
      printf '%s\\n' '{"cniVersion":"${CURRENT_VERSION}","code":11,"msg":"the cnidbg-ref server stopped during this request","details":"try again"}'
      exit 1
    fi
  fi
fi
plan=$("$node" "$0" --plan) || {
  rc=$?
  printf '%s\\n' "$plan"
  exit "$rc"
}
eval "$plan"
if [ "$CNI_COMMAND" = DEL ]; then
  # No line: the node has no node side of this attachment (gone, or another attachment's).
  [ -n "$host" ] || exit 0
  err=$("$ip" -batch - 2>&1 >/dev/null <<CNIDBG_BATCH
$host
CNIDBG_BATCH
) || case "$err" in
  ${LINK_GONE_MESSAGES.map((m) => `*${shellQuote(m)}*`).join(' | ')}) ;;
  *)
    printf '%s' "$conf" | "$node" "$0" --del-failed "$err"
    exit $?
    ;;
  esac
  exit 0
fi
err=$("$ip" -batch - 2>&1 >/dev/null <<CNIDBG_BATCH
$host
CNIDBG_BATCH
) || {
  printf '%s' "$conf" | "$node" "$0" --undo node "$err"
  exit $?
}
if [ "$CNIDBG_TEST_HOLD" = ref-veth ] && [ -n "$CNIDBG_TEST_HOLD_FILE" ]; then
  # Crash tests: stop with the node side done and the pod side not, and be killed right here.
  echo $$ >"$CNIDBG_TEST_HOLD_FILE"
  exec sleep 86400
fi
err=$("$nsenter" --net="$podns" -- "$ip" -batch - 2>&1 >/dev/null <<CNIDBG_BATCH
$pod
CNIDBG_BATCH
) || {
  printf '%s' "$conf" | "$node" "$0" --undo pod "$err"
  exit $?
}
printf '%s\\n' "$result"
exit 0
`
  // The whole header is one JS comment: nothing in it may close the comment early.
  if (script.includes('*/')) throw new Error(`cannot write a shell front for node at ${nodePath}`)
  return `${script}*/
`
}

/** Puts a new front on a built cnidbg-ref (or on the bare bundle): ref install names its own Node. */
export function withFront(nodePath: string, built: string): string {
  const end = built.startsWith('#!/bin/sh\n') ? built.indexOf('\n*/\n') : -1
  const body = end >= 0 ? built.slice(end + 4) : built.replace(/^#!.*\n/, '')
  return frontScript(nodePath) + body
}

const assign = (vars: Record<string, string>): string =>
  Object.entries(vars)
    .map(([k, v]) => `${k}=${shellQuote(v)}`)
    .join('\n') + '\n'

const lines = (xs: readonly string[]): string => xs.join('\n')

/** What the front's Node half prints, and its exit code. */
export async function frontRun(argv: readonly string[], env: NodeJS.ProcessEnv, stdin: string | Error) {
  const [mode, a, b] = argv
  const conf = typeof stdin === 'string' ? stdin : ''
  if (mode === '--plan') {
    let vars: Record<string, string> = {}
    const funcs: PluginFuncs = {
      ...refPlugin,
      add: async (ctx) => {
        const p = await planAdd(ctx)
        // The pod side opens the netns Node checked, not the raw variable (which Node may have read lossily).
        vars = {host: lines(p.host), pod: lines(p.pod), nsenter: which('nsenter'), podns: ctx.args.netnsPath}
        return p.result
      },
      del: async (ctx) => {
        vars = {host: lines((await planDel(ctx)).host)}
      },
    }
    const out = await runPlugin(funcs, env, stdin)
    if (out.exitCode !== 0) return out
    // ADD's result is what runPlugin printed (already in the config's version); DEL prints nothing.
    const result = out.stdout.trimEnd()
    return {stdout: assign({ip: which('ip'), conf, ...vars, ...(result ? {result} : {})}), exitCode: 0}
  }
  if (mode === '--undo' && (a === 'node' || a === 'pod')) {
    return runPlugin({...refPlugin, add: (ctx) => undoAdd(ctx, a, b ?? '')}, env, stdin)
  }
  if (mode === '--del-failed') {
    return runPlugin({...refPlugin, del: async (ctx) => delFailed(ctx, a ?? '')}, env, stdin)
  }
  return runPlugin(refPlugin, env, stdin)
}

/** The entry of cnidbg-ref.js: with no front argument, the whole plugin in this process. */
export async function frontMain(): Promise<void> {
  const argv = process.argv.slice(2)
  if (argv.length === 0) return pluginMain(refPlugin)
  // The build asks the bundle for itself with its front (scripts/bundle-plugins.mjs).
  if (argv[0] === '--serve') return serveMain(argv.slice(1))
  if (argv[0] === '--with-front') {
    finish(1, withFront(argv[1] ?? process.execPath, readFileSync(process.argv[1]!, 'utf8')), 0)
  }
  const out = await frontRun(argv, process.env, readStdin())
  finish(1, out.stdout, out.exitCode)
}
