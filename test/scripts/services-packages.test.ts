/**
 * The Debian packages `scripts/services.sh up` installs itself, so that `npm test` sets up a machine that has only
 * Node and npm. Checked on a made-up PATH (the machine's own packages are not removed): what is missing is named,
 * `--dry-run` shows the apt-get command, and without the right to install one line says what to run.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"

const root = NodePath.resolve(import.meta.dirname, "../..")

/** A directory of stand-in commands: everything the services need except `without`. */
const searchPath = (without: ReadonlyArray<string>): string => {
  const dir = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "kd-packages-"))
  for (const command of ["nginx", "openssl", "curl", "unzip", "mvn", "java"]) {
    if (!without.includes(command)) Fs.symlinkSync("/bin/true", NodePath.join(dir, command))
  }
  return dir
}

const packages = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  spawnSync("bash", [NodePath.join(root, "scripts/services.sh"), "packages", ...args], { encoding: "utf8", env: { ...process.env, ...env } })

describe("services.sh packages", () => {
  it("names the apt-get command for a machine without nginx and maven", () => {
    const result = packages(["--dry-run"], { SERVICES_PACKAGE_PATH: searchPath(["nginx", "mvn"]) })
    assert.strictEqual(result.status, 0, result.stderr)
    assert.strictEqual(result.stdout.trim(), "would run: apt-get update && apt-get install -y nginx maven")
  })

  it("installs nothing when every command is there", () => {
    const result = packages(["--dry-run"], { SERVICES_PACKAGE_PATH: searchPath([]) })
    assert.strictEqual(result.stdout.trim(), "nothing to install")
  })

  it("without the right to install, stops with one line naming the package and the command", () => {
    const result = packages([], { SERVICES_PACKAGE_PATH: searchPath(["nginx"]), SERVICES_INSTALL: "0" })
    assert.strictEqual(result.status, 1)
    const lines = result.stderr.trimEnd().split("\n")
    assert.strictEqual(lines.length, 1, result.stderr)
    assert.include(lines[0], "nginx")
    assert.include(lines[0], "apt-get install -y nginx")
  })

  it("up installs the packages before it downloads or starts anything", () => {
    const script = Fs.readFileSync(NodePath.join(root, "scripts/services.sh"), "utf8")
    const up = script.slice(script.indexOf("\n  up)"))
    assert.isAtLeast(up.indexOf("ensure_packages"), 0, "up calls ensure_packages")
    assert.isBelow(up.indexOf("ensure_packages"), up.indexOf("fetch_kafka"))
  })
})
