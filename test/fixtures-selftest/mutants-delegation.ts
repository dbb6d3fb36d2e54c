// Fixture self-test (see test/helpers/mutant-cases.ts): STATUS, GC, chaining, delegation and args/CNI_ARGS.
import t from 'tap'

import {AREA_GROUPS, runFixtureCases} from '../helpers/mutant-cases.js'

await runFixtureCases(t, AREA_GROUPS['delegation'])
