import t from 'tap'

import {upstreamShard} from '../../helpers/upstream-pass.js'

t.setTimeout(45 * 60 * 1000)
upstreamShard(t, 0, 4)
