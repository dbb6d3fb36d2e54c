// Fixture self-test (see test/helpers/mutant-cases.ts): ADD results, interface creation, the IPAM role, concurrency and chaining.
import t from 'tap'

import {AREA_GROUPS, runFixtureCases} from '../helpers/mutant-cases.js'

await runFixtureCases(t, AREA_GROUPS['result'])
