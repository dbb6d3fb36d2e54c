// A module whose one import mocking.ts replaces, to see that a mock takes.
import {source} from './mock-canary-dep.js'

export const canary = (): string => source
