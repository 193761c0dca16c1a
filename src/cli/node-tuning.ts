/**
 * Process-level memory settings of the `kafka-delta` executable. V8 sizes its heap and glibc sets malloc's mmap
 * threshold when a process starts, not later, so the executable replaces itself once at start-up
 * (`process.execve`: same pid, same stdio, signals still reach it directly; no second process) with:
 *
 * - `--max-semi-space-size=16`: kafkajs and the decoder allocate at a high rate, so V8 grows the young generation
 *   to its maximum (32 MiB per semi-space, about 100 MiB reserved in all) and keeps it. Half that saves about
 *   50 MiB; smaller still (8) saved more. Both cost throughput in more scavenges (see the report).
 * - `--heap-growing-percent`: after a full collection V8 lets the old generation grow to up to four times what
 *   survived before it collects again. What survives here is small (tens of MiB: the Delta log, schemas, code)
 *   while fetched records pass through the old generation, so most of that growth is garbage; growing by half
 *   keeps the heap near the live size. (A V8 flag, so it is given only on the Node majors known to have it.)
 * - `MALLOC_MMAP_THRESHOLD_`: glibc raises its threshold dynamically up to 32 MiB after the first large frees,
 *   after which every batch's column buffers, IPC copies and fetch buffers (socket chunks are 64 KiB) come from
 *   the main heap (brk), which fragments and is rarely returned to the system. A fixed 32 KiB threshold maps
 *   such buffers on their own and unmaps them when freed. Other C libraries ignore the variable.
 *
 * Figures: reports/memory.md. Whatever the user set wins (the flag in
 * the node flags or NODE_OPTIONS, the variable in the environment); `KAFKA_DELTA_NODE_TUNING=0` runs the process
 * as started.
 */

/** The young generation's semi-space size set by the executable, MiB. */
export const semiSpaceMiB = 16

/** The old generation's growth after a full collection set by the executable, percent. */
export const heapGrowingPercent = 50

/** Node majors whose V8 has `--heap-growing-percent` (measured on 24); others run without it. */
const growingFlagMajors = [22, 23, 24]

/** The glibc mmap threshold set by the executable, bytes. */
export const mmapThreshold = 32 * 1024

const marker = "KAFKA_DELTA_NODE_TUNED"

/** What the re-executed process gets: node flags to add and environment variables to set; undefined: nothing. */
export const tuning = (
  execArgv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>,
  nodeMajor: number = Number(process.versions.node.split(".")[0])
): { readonly flags: ReadonlyArray<string>; readonly env: Readonly<Record<string, string>> } | undefined => {
  if (env["KAFKA_DELTA_NODE_TUNING"] === "0" || env[marker] !== undefined) return undefined
  const given = [...execArgv, ...(env["NODE_OPTIONS"] ?? "").split(/\s+/)]
  // V8 takes its flags with `-` or `_` alike
  const has = (name: string) => given.some((flag) => flag.replace(/_/g, "-").startsWith(name))
  const flags: Array<string> = []
  if (!has("--max-semi-space-size")) flags.push(`--max-semi-space-size=${semiSpaceMiB}`)
  if (!has("--heap-growing-percent") && growingFlagMajors.includes(nodeMajor)) flags.push(`--heap-growing-percent=${heapGrowingPercent}`)
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
