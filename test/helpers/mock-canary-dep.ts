// What mock-canary.ts reads; mocking.ts replaces it to see that t.mockImport mocks.
export const source = 'real'
