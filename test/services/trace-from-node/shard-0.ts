import t from 'tap'

import {traceFromNodeShard} from '../../helpers/trace-from-node.js'

t.setTimeout(1_800_000)
await traceFromNodeShard(t, 0, 3)
