/**
 * `environments/local.json` is the environment of the local services (`scripts/services.sh`): its addresses must
 * be the ones those services serve.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as NodePath from "node:path"

const root = NodePath.resolve(import.meta.dirname, "../..")

describe("environments/local.json", () => {
  it("names the broker and registry addresses `scripts/services.sh env` prints", () => {
    const printed = Object.fromEntries(
      execFileSync("bash", [NodePath.join(root, "scripts/services.sh"), "env"], { cwd: root, encoding: "utf8" })
        .split("\n")
        .flatMap((line) => {
          const match = /^([A-Z_]+)=(.*)$/.exec(line)
          return match === null ? [] : [[match[1]!, match[2]!]]
        })
    )
    const local = JSON.parse(Fs.readFileSync(NodePath.join(root, "environments/local.json"), "utf8")) as {
      kafka: { bootstrapServers: string }
      schemaRegistry: { url: string }
    }
    assert.strictEqual(local.schemaRegistry.url, printed["SCHEMA_REGISTRY_URL"])
    assert.strictEqual(local.kafka.bootstrapServers, printed["KAFKA_BOOTSTRAP"])
  })
})
