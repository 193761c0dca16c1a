import { assert, describe, expect, it } from "@effect/vitest"
import { execFileSync, spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"

const root = NodePath.resolve(import.meta.dirname, "../..")

describe("the npm package", () => {
  it("npm pack yields a package whose kafka-delta bin runs, with compiled JS and .d.ts", () => {
    const dir = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "kd-pack-"))
    const npm = (args: ReadonlyArray<string>, cwd: string) =>
      execFileSync("npm", [...args], { cwd, encoding: "utf8", env: { ...process.env, npm_config_loglevel: "error" }, timeout: 240_000 })
    const packed = npm(["pack", "--pack-destination", dir, "--json"], root)
    const tarball = NodePath.join(dir, (JSON.parse(packed) as Array<{ filename: string }>)[0]!.filename)
    const files = (JSON.parse(packed) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path)
    expect(files).toContain("bin/kafka-delta.js")
    expect(files).toContain("dist/src/cli/bin.js")
    expect(files).toContain("LICENSE")
    expect(files).toContain("examples/embed.ts")
    expect(files).toContain("dist/src/index.d.ts")
    expect(files).toContain("dist/layers/testing.d.ts")
    expect(files).toContain("dist/src/cli/live.d.ts")
    // the executable runs dist/ when the sources are absent: Node does not strip types under node_modules
    expect(files.some((f) => f.endsWith(".ts") && !f.endsWith(".d.ts") && !f.startsWith("examples/"))).toBe(false)
    const app = NodePath.join(dir, "app")
    Fs.mkdirSync(app)
    Fs.writeFileSync(NodePath.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }))
    npm(["install", "--no-audit", "--no-fund", tarball], app)
    const help = spawnSync(process.execPath, [NodePath.join(app, "node_modules/.bin/kafka-delta"), "run", "--help"], { encoding: "utf8" })
    assert.strictEqual(help.status, 0, help.stderr)
    expect(help.stdout).toContain("--environment")
    // as the README writes it, with a Node 24 first on PATH
    const npx = spawnSync("npx", ["kafka-delta", "--help"], {
      cwd: app,
      encoding: "utf8",
      env: { ...process.env, PATH: `${NodePath.dirname(process.execPath)}${NodePath.delimiter}${process.env["PATH"] ?? ""}` }
    })
    assert.strictEqual(npx.status, 0, npx.stderr)
    expect(npx.stdout).toContain("kafka-delta <subcommand>")
    const imported = spawnSync(process.execPath, ["--input-type=module", "-e", `import * as kd from "kafka-delta"; import * as t from "kafka-delta/testing"; import * as live from "kafka-delta/live"; console.log(typeof kd.runStream, typeof t.KafkaMemory.MemoryKafka, typeof t.produceAvro, typeof live.liveLayers)`], { cwd: app, encoding: "utf8" })
    assert.strictEqual(imported.stdout.trim(), "function function function function", imported.stderr)
  })
})
