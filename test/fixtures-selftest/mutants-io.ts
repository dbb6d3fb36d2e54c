// Fixture self-test (see test/helpers/mutant-cases.ts): Process I/O, robustness, environment, config handling, args/CNI_ARGS, error objects and versions.
import t from 'tap'

import {AREA_GROUPS, runFixtureCases} from '../helpers/mutant-cases.js'

await runFixtureCases(t, AREA_GROUPS['io'])
