/**
 * Runs one command and measures it the same way for every engine: wall time, CPU seconds (user+sys) and peak
 * RSS of the whole process tree. Spark is a Python driver plus a JVM it starts (and may not reap), so the figures
 * come from sampling /proc for every descendant (last seen utime+stime per pid, sum of RSS per sample) and from
 * `/usr/bin/time` for the top process and the children it reaped; each figure is the larger of the two.
 */
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as NodePath from "node:path"

const TICKS = 100 // USER_HZ on Linux
const PAGE = 4096

/** What one measured run took. */
export interface Measured {
  readonly exitCode: number
  readonly wallSeconds: number
  readonly cpuSeconds: number
  /** Peak of the summed RSS of the process tree, bytes. */
  readonly peakRssBytes: number
  readonly stdout: string
  readonly stderr: string
}

const readStat = (pid: number): { ppid: number; cpu: number; rss: number } | undefined => {
  try {
    const text = Fs.readFileSync(`/proc/${pid}/stat`, "latin1")
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
    // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15, rss 24
    return { ppid: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) / TICKS, rss: Number(fields[21]) * PAGE }
  } catch {
    return undefined
  }
}

const descendants = (root: number): Array<number> => {
  const children = new Map<number, Array<number>>()
  for (const entry of Fs.readdirSync("/proc")) {
    const pid = Number(entry)
    if (!Number.isInteger(pid)) continue
    const stat = readStat(pid)
    if (stat === undefined) continue
    const list = children.get(stat.ppid) ?? []
    list.push(pid)
    children.set(stat.ppid, list)
  }
  const out: Array<number> = []
  const stack = [root]
  while (stack.length > 0) {
    const pid = stack.pop()!
    out.push(pid)
    stack.push(...(children.get(pid) ?? []))
  }
  return out
}

/** Runs `command` under /usr/bin/time, sampling its process tree every `intervalMs`. */
export const measure = (
  command: ReadonlyArray<string>,
  options: { readonly env?: NodeJS.ProcessEnv; readonly cwd?: string; readonly intervalMs?: number; readonly log?: string } = {}
): Promise<Measured> =>
  new Promise((resolve, reject) => {
    const timeFile = NodePath.join(Fs.mkdtempSync("/tmp/kd-bench-time-"), "time")
    const started = performance.now()
    const child = spawn("/usr/bin/time", ["-f", "%e %U %S %M", "-o", timeFile, ...command], {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ["ignore", "pipe", "pipe"]
    })
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk))
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk))
    const cpuByPid = new Map<number, number>()
    let peakRss = 0
    let tree: Array<number> = []
    let samples = 0
    const sample = () => {
      if (child.pid === undefined) return
      // a full /proc scan finds new descendants (the JVM); in between only the known ones are read
      if (samples++ % 4 === 0) tree = descendants(child.pid).filter((pid) => pid !== child.pid) // skip /usr/bin/time
      let rss = 0
      for (const pid of tree) {
        const stat = readStat(pid)
        if (stat === undefined) continue
        cpuByPid.set(pid, stat.cpu)
        rss += stat.rss
      }
      peakRss = Math.max(peakRss, rss)
    }
    const timer = setInterval(sample, options.intervalMs ?? 200)
    child.on("error", reject)
    child.on("close", (code) => {
      clearInterval(timer)
      const wallSeconds = (performance.now() - started) / 1000
      const [, user, system, maxRssKb] = Fs.readFileSync(timeFile, "utf8").trim().split("\n").at(-1)!.split(" ").map(Number)
      const sampledCpu = [...cpuByPid.values()].reduce((a, b) => a + b, 0)
      const stdout = Buffer.concat(out).toString()
      const stderr = Buffer.concat(err).toString()
      if (options.log !== undefined) Fs.writeFileSync(options.log, `$ ${command.join(" ")}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`)
      resolve({
        exitCode: code ?? -1,
        wallSeconds,
        cpuSeconds: Math.max(sampledCpu, (user ?? 0) + (system ?? 0)),
        peakRssBytes: Math.max(peakRss, (maxRssKb ?? 0) * 1024),
        stdout,
        stderr
      })
    })
  })
