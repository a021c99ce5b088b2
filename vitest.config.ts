import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests open real sockets and spawn real processes (mosquitto_sub, fleet CLI);
    // generous per-test time-outs guard against a hang, they are not a speed assertion.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks'
  }
})
