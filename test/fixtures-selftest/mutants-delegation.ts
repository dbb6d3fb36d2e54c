// Fixture self-test (see test/helpers/mutant-cases.ts): STATUS, GC and delegation.
import t from 'tap'

import {AREA_GROUPS, runFixtureCases} from '../helpers/mutant-cases.js'

await runFixtureCases(t, AREA_GROUPS['delegation'])
