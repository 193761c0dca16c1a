/**
 * Process-level memory settings of the `kafka-delta` executable. V8 sizes its heap and glibc sets malloc's mmap
 * threshold when a process starts, not later, so the executable replaces itself once at start-up
 * (`process.execve`: same pid, same stdio, signals still reach it directly; no second process) with:
 *
 * - `--max-semi-space-size=16`: kafkajs and the decoder allocate at a high rate, so V8 grows the young generation
 *   to its maximum (32 MiB per semi-space, about 100 MiB reserved in all) and keeps it. Half that saves about
 *   50 MiB at no measurable cost (2M records: 21.4 CPU-s against 20.8 without it); 8 saved a little more for more
 *   scavenges.
 * - `MALLOC_MMAP_THRESHOLD_=1048576`: glibc raises its threshold dynamically up to 32 MiB after the first large
 *   frees, after which every batch's column buffers, IPC copies and fetch buffers come from the main heap (brk),
 *   which fragments and is rarely returned to the system. A fixed 1 MiB threshold maps the large buffers on
 *   their own and unmaps them when freed; 32 KiB saved no more memory and cost 2 CPU-s per 2M records in page
 *   faults. Other C libraries ignore the variable.
 *
 * `--heap-growing-percent=50` (a slower-growing old generation) saved a further ~50 MiB but cost about 25% more CPU
 * in full collections, so it is left to the user.
 *
 * Figures: reports/memory.md. Whatever the user set wins (the flag in
 * the node flags or NODE_OPTIONS, the variable in the environment); `KAFKA_DELTA_NODE_TUNING=0` runs the process
 * as started.
 */

/** The young generation's semi-space size set by the executable, MiB. */
export const semiSpaceMiB = 16

/** The glibc mmap threshold set by the executable, bytes. */
export const mmapThreshold = 1024 * 1024

const marker = "KAFKA_DELTA_NODE_TUNED"

/** What the re-executed process gets: node flags to add and environment variables to set; undefined: nothing. */
export const tuning = (
  execArgv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>
): { readonly flags: ReadonlyArray<string>; readonly env: Readonly<Record<string, string>> } | undefined => {
  if (env["KAFKA_DELTA_NODE_TUNING"] === "0" || env[marker] !== undefined) return undefined
  const given = [...execArgv, ...(env["NODE_OPTIONS"] ?? "").split(/\s+/)]
  // V8 takes its flags with `-` or `_` alike
  const has = (name: string) => given.some((flag) => flag.replace(/_/g, "-").startsWith(name))
  const flags: Array<string> = []
  if (!has("--max-semi-space-size")) flags.push(`--max-semi-space-size=${semiSpaceMiB}`)
  const extra: Record<string, string> = env["MALLOC_MMAP_THRESHOLD_"] === undefined ? { MALLOC_MMAP_THRESHOLD_: String(mmapThreshold) } : {}
  if (flags.length === 0 && Object.keys(extra).length === 0) return undefined
  return { flags, env: { ...extra, [marker]: "1" } }
}

/** Replaces this process with one that has the memory settings, when it lacks them and the platform can. */
export const applyNodeTuning = (): void => {
  const wanted = tuning(process.execArgv, process.env)
  if (wanted === undefined || typeof process.execve !== "function") return
  process.execve(
    process.execPath,
    [process.execPath, ...wanted.flags, ...process.execArgv, ...process.argv.slice(1)],
    { ...process.env, ...wanted.env }
  )
}
