import { defineConfig } from 'vitest/config';

// `npm run stress`: the heavy reliability runs (thousands of kills, 10,000
// fuzzed frames, 500k-file walks under load). Not part of `npm test`; their
// figures are recorded in docs/RELIABILITY.md.
export default defineConfig({
  test: {
    include: ['stress/**/*.stress.ts'],
    testTimeout: 30 * 60_000,
    hookTimeout: 10 * 60_000,
    fileParallelism: false,
  },
});
