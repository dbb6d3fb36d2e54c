// Fixture self-test (see test/helpers/mutant-cases.ts): DEL and CHECK.
import t from 'tap'

import {AREA_GROUPS, runFixtureCases} from '../helpers/mutant-cases.js'

await runFixtureCases(t, AREA_GROUPS['del-check'])
