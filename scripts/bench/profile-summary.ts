/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time per function and per package/file, top N.
 * Run: node scripts/bench/profile-summary.ts <file.cpuprofile> [top=40]
 */
import * as Fs from "node:fs"

interface Node {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly children?: ReadonlyArray<number>
}
const profile = JSON.parse(Fs.readFileSync(process.argv[2]!, "utf8")) as { nodes: Array<Node>; samples: Array<number>; timeDeltas: Array<number> }
const top = Number(process.argv[3] ?? 40)
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const self = new Map<number, number>()
for (let i = 0; i < profile.samples.length; i++) self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + (profile.timeDeltas[i] ?? 0))
const total = [...self.values()].reduce((a, b) => a + b, 0)
const fn = new Map<string, number>()
const file = new Map<string, number>()
const short = (url: string) => url.replace(/^file:\/\/\/work\/main\//, "").replace(/^.*node_modules\/(\.pnpm\/)?/, "nm:")
for (const [id, us] of self) {
  const frame = byId.get(id)!.callFrame
  const where = short(frame.url) || "(native)"
  const key = `${frame.functionName || "(anonymous)"}  ${where}:${frame.lineNumber + 1}`
  fn.set(key, (fn.get(key) ?? 0) + us)
  const pkg = where.startsWith("nm:") ? where.split("/").slice(0, where.includes("@") ? 2 : 1).join("/") : where
  file.set(pkg, (file.get(pkg) ?? 0) + us)
}
const print = (title: string, map: Map<string, number>) => {
  console.log(`\n${title} (total ${(total / 1e6).toFixed(1)} s)`)
  for (const [key, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${(100 * us / total).toFixed(1).padStart(5)}%  ${(us / 1e6).toFixed(2).padStart(6)}s  ${key}`)
}
print("self time by file/package", file)
print("self time by function", fn)
