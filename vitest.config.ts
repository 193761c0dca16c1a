import { defineConfig } from "vitest/config"

// The default lane: unit tests and the integration tests against the local services.
// The Spark reader lane (`npm run test:spark`) and the fault suite (`npm run test:faults`) have configs of their own.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    exclude: ["test/faults/**", "test/delta-spark/**", "node_modules/**"],
    testTimeout: 60_000,
    hookTimeout: 180_000
  }
})
