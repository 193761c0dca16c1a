/**
 * The command line's start-up: memory settings, the compile cache, warnings, then `main`. The executable
 * (`bin/kafka-delta.js`) checks the Node version and loads this module, or its build in dist/.
 */
import { enableCompileCache } from "node:module"
import { applyNodeTuning } from "./node-tuning.ts"

// before anything is loaded: the process may replace itself with one that has its memory settings
applyNodeTuning()

// V8's compiled code (and the type-stripped sources) cached on disk, in NODE_COMPILE_CACHE or the temp
// directory: from the second run on, loading the modules takes about 0.55 s instead of 0.8 (2 cores).
// NODE_DISABLE_COMPILE_CACHE=1 turns it off.
enableCompileCache()

// kafkajs 2.2.4 schedules a timer with a negative delay on Node 24, which prints a TimeoutNegativeWarning on
// every run (Node clamps the delay to 1 ms, so nothing misbehaves); keep every other warning.
process.removeAllListeners("warning")
process.on("warning", (warning) => {
  if (warning.name !== "TimeoutNegativeWarning") process.stderr.write(`${warning.name}: ${warning.message}\n`)
})

const { main } = await import("./main.ts")
main()
