import { defineConfig } from "vitest/config"

// The fault suite (`npm run test:faults`): the real kafka-delta process killed, restarted and starved of its
// services, checked with delta-rs. One file at a time (scenarios stop the shared broker and registry), long
// timeouts; test/faults/report-setup.ts writes reports/faults.md.
export default defineConfig({
  test: {
    include: ["test/faults/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts", "test/faults/report-setup.ts"],
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 300_000
  }
})
