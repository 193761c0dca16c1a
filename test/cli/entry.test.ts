/**
 * The `kafka-delta` executable as a user starts it: `npx kafka-delta` in a clone after `npm ci` (no build), and
 * an old Node stopping with one line that names the Node needed.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as NodePath from "node:path"

const root = NodePath.resolve(import.meta.dirname, "../..")
const manifest = JSON.parse(Fs.readFileSync(NodePath.join(root, "package.json"), "utf8")) as { engines: { node: string }; bin?: Record<string, string> }
const oldNode = "/usr/bin/node"
const oldNodeMajor = Fs.existsSync(oldNode) ? Number(spawnSync(oldNode, ["-p", "process.versions.node.split('.')[0]"], { encoding: "utf8" }).stdout) : undefined

describe("the kafka-delta executable", () => {
  it("`npx kafka-delta --help` works in the repository without a build", () => {
    const result = spawnSync("npx", ["kafka-delta", "--help"], {
      cwd: root,
      encoding: "utf8",
      env: { ...process.env, npm_config_yes: "true", npm_config_loglevel: "error" },
      timeout: 120_000
    })
    assert.strictEqual(result.status, 0, result.stderr)
    assert.include(result.stdout, "kafka-delta <subcommand>")
  })

  it("every README line `npx kafka-delta <command> ...` names a command the executable has", () => {
    const readme = Fs.readFileSync(NodePath.join(root, "README.md"), "utf8")
    const commands = new Set([...readme.matchAll(/^npx kafka-delta (\S+)/gm)].map((match) => match[1]!).filter((word) => !word.startsWith("-")))
    assert.isAtLeast(commands.size, 2)
    for (const command of commands) {
      const result = spawnSync(process.execPath, [NodePath.join(root, "bin/kafka-delta.js"), command, "--help"], { cwd: root, encoding: "utf8" })
      assert.strictEqual(result.status, 0, `${command}: ${result.stderr}`)
    }
  })

  // the machine's own Node is the old one this guards against; without one there is nothing to run it with
  it.skipIf(oldNodeMajor === undefined || oldNodeMajor >= 22)("an old Node prints the version needed in one line and exits 2", () => {
    const result = spawnSync(oldNode, [NodePath.join(root, manifest.bin?.["kafka-delta"] ?? ""), "run", "--help"], { cwd: root, encoding: "utf8" })
    assert.strictEqual(result.status, 2, result.stderr)
    assert.strictEqual(result.stdout, "")
    const lines = result.stderr.trimEnd().split("\n")
    assert.strictEqual(lines.length, 1, result.stderr)
    assert.include(lines[0], `needs Node ${manifest.engines.node}`)
    assert.include(lines[0], "npm ci")
  })
})
