// What mock-canary.ts reads; mocking.ts replaces it to see that a mock takes.
export const source = 'real'
