/**
 * Child process of the crash tests: appends batch `n` (rows n*10 .. n*10+9) to the table at argv[2]; the parent
 * sets KAFKA_DELTA_FAULT so the process SIGKILLs itself at that point of the append.
 */
import { Effect } from "effect"
import * as FilesystemSink from "../../layers/delta-sink/filesystem.ts"
import { DeltaSink } from "../../src/services/DeltaSink.ts"
import { allTypesBatch, allTypesSchema } from "./support.ts"

const location = process.argv[2]!
const n = Number(process.argv[3])
const expected = process.argv[4] === "none" ? undefined : Number(process.argv[4])

const program = Effect.gen(function*() {
  const sink = yield* DeltaSink
  const result = yield* sink.append({
    table: { name: "crash", location },
    schema: allTypesSchema,
    data: [allTypesBatch(n * 10, n * 10 + 10)],
    partitionBy: [],
    txns: [{ appId: "crash-0", version: n * 10 + 10, expected }],
    operationParameters: {}
  })
  process.stdout.write(JSON.stringify(result))
}).pipe(Effect.provide(FilesystemSink.layer({ checkpointInterval: 2 })))

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exit(1)
})
