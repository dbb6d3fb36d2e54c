import t from 'tap'

import {traceFromNodeCases} from '../helpers/trace-from-node.js'

t.setTimeout(1_800_000)
await traceFromNodeCases(t)
