import { defineConfig } from "vitest/config"

// The slow lane: Apache Spark with delta-spark reads tables kafka-delta wrote.
export default defineConfig({
  test: {
    include: ["test/delta-spark/**/*.test.ts"],
    testTimeout: 600_000,
    hookTimeout: 600_000
  }
})
