import chalk from 'chalk'

import type {DemoView} from '../../services/demo.js'
import {renderConformanceProgress} from '../render-conformance-progress.js'
import {renderSteps} from '../render-steps.js'
import {formatReport} from '../reporters/index.js'
import {renderText} from '../trace/index.js'

const indent = (text: string): string => text.replace(/^/gm, '   ')

/** The demo's narrative on stdout (`log`) with live views on stderr; silent but for errors under --json. */
export function demoView(opts: {json: boolean; log: (line: string) => void}): DemoView {
  const log = opts.json ? () => {} : opts.log
  return {
    section(title, note) {
      log(`\n${chalk.bold.cyan('━━ ' + title)}`)
      if (note) log(chalk.dim(indent(note)))
    },
    labSteps: (steps) => renderSteps(steps, {json: opts.json}),
    labUp(lab) {
      for (const n of lab.nodes) log(`   node ${chalk.bold(n.name)}  ${n.nodeIP}  pods ${n.podCIDR}`)
      for (const p of lab.pods) log(`   pod  ${chalk.bold(p.name.padEnd(10))} on ${p.node}  ${p.ip}`)
    },
    conformance: (state) => renderConformanceProgress(state, {json: opts.json}),
    conformanceDone(report, listed) {
      if (!listed) log(formatReport(report, 'pretty', {listChecks: false}).trimEnd())
      else {
        const s = report.summary
        log(
          `   ${s.passed} passed, ${s.failed} failed, ${s.warned} warned in ${(report.durationMs / 1000).toFixed(1)}s`,
        )
      }
    },
    faultApplied: (fault, summary) => log(`   cnidbg lab break ${fault} → ${summary}`),
    traced(result, check) {
      const got = check.reason ?? (check.verdict === 'reachable' ? 'reachable' : undefined)
      log(indent(renderText(result).trimEnd()))
      log(
        `   ${check.ok ? chalk.green('✓') : chalk.red('✗')} expected ${check.expected}, trace says ${got ?? 'unknown'} (${check.durationMs} ms)`,
      )
    },
  }
}
