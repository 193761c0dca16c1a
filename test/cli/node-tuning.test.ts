import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { mmapThreshold, semiSpaceMiB, tuning } from "../../src/cli/node-tuning.ts"

const root = NodePath.resolve(import.meta.dirname, "../..")
const bin = NodePath.join(root, "src/cli/bin.ts")

// a preload that reports, when the process exits, the flags and environment it finally ran with
const probe = () => {
  const dir = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "kd-tuning-"))
  const file = NodePath.join(dir, "probe.mjs")
  Fs.writeFileSync(file, `process.on("exit", () => process.stderr.write("PROBE " + JSON.stringify({ pid: process.pid, execArgv: process.execArgv, mmap: process.env.MALLOC_MMAP_THRESHOLD_ ?? null }) + "\\n"))\n`)
  return file
}

const runBin = (flags: ReadonlyArray<string>, env: Record<string, string>) => {
  const result = spawnSync(process.execPath, ["--import", probe(), ...flags, bin, "--help"], {
    cwd: root,
    env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "", ...env },
    encoding: "utf8",
    timeout: 60_000
  })
  assert.strictEqual(result.status, 0, result.stderr)
  const lines = result.stderr.split("\n").filter((line) => line.startsWith("PROBE "))
  assert.lengthOf(lines, 1) // the first process is replaced, not exited
  return { spawnedPid: result.pid, ...JSON.parse(lines[0]!.slice(6)) as { pid: number; execArgv: Array<string>; mmap: string | null } }
}

describe("node tuning of the executable", () => {
  it("asks for a smaller young generation and a fixed mmap threshold when none is given", () => {
    const wanted = tuning(["--import", "x"], {})
    assert.deepStrictEqual(wanted?.flags, [`--max-semi-space-size=${semiSpaceMiB}`])
    assert.strictEqual(wanted?.env["MALLOC_MMAP_THRESHOLD_"], String(mmapThreshold))
  })

  it("keeps what the user set, and changes nothing once tuned or when switched off", () => {
    assert.deepStrictEqual(tuning(["--max_semi_space_size=32"], {})?.flags, [])
    assert.deepStrictEqual(tuning([], { NODE_OPTIONS: "--max-semi-space-size=2" })?.flags, [])
    assert.deepStrictEqual(tuning([], { MALLOC_MMAP_THRESHOLD_: "65536" })?.env, { KAFKA_DELTA_NODE_TUNED: "1" })
    assert.isUndefined(tuning([], { MALLOC_MMAP_THRESHOLD_: "65536", NODE_OPTIONS: "--max-semi-space-size=2" }))
    assert.isUndefined(tuning([], { KAFKA_DELTA_NODE_TUNING: "0" }))
    const once = tuning([], {})!
    assert.isUndefined(tuning(once.flags, once.env))
  })

  it("the executable runs as the same process with the settings, keeping the node flags it was given", () => {
    const tuned = runBin(["--no-warnings"], {})
    assert.strictEqual(tuned.pid, tuned.spawnedPid)
    assert.include(tuned.execArgv, `--max-semi-space-size=${semiSpaceMiB}`)
    assert.include(tuned.execArgv, "--no-warnings")
    assert.strictEqual(tuned.mmap, String(mmapThreshold))
    const plain = runBin([], { KAFKA_DELTA_NODE_TUNING: "0" })
    assert.notInclude(plain.execArgv.join(" "), "--max-semi-space-size")
    assert.isNull(plain.mmap)
  })
})
