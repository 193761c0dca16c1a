#!/usr/bin/env python3
"""Produces Confluent-framed Avro records for a schema id given on the command line, encoding them with fastavro,
so records can be produced while the schema registry is down (the registry-outage scenario of the fault suite).

  produce_framed.py --topic T --schema s.avsc --schema-id N --count C --start I --partitions P --summary out.json

Record i (i = start .. start+count-1) goes to partition i % P; its value is derived from i: the fields id (long),
name (string), amount (double), tags (array of string) and, when the schema has it, channel (string or null).
The summary lists every record with the partition and offset from its delivery report.
"""
import argparse
import io
import json
import os
import sys

import fastavro
from confluent_kafka import Producer


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    p.add_argument("--topic", required=True)
    p.add_argument("--schema", required=True)
    p.add_argument("--schema-id", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--partitions", type=int, default=1)
    p.add_argument("--summary", required=True)
    a = p.parse_args()

    with open(a.schema) as f:
        schema = json.load(f)
    parsed = fastavro.parse_schema(schema)
    names = {field["name"] for field in schema["fields"]}
    header = b"\x00" + a.schema_id.to_bytes(4, "big")
    producer = Producer({"bootstrap.servers": a.bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5})
    records, errors = [], []
    for i in range(a.start, a.start + a.count):
        value = {"id": i, "name": f"name-{i}", "amount": i * 0.5, "tags": [f"t{i % 3}"]}
        if "channel" in names:
            value["channel"] = "web" if i % 2 == 0 else None
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, value)
        slot = {"i": i}
        records.append(slot)

        def cb(err, msg, slot=slot):
            if err is not None:
                errors.append(f"record {slot['i']}: {err}")
            else:
                slot["partition"], slot["offset"] = msg.partition(), msg.offset()
        producer.produce(a.topic, key=str(i), value=header + buf.getvalue(), partition=i % a.partitions, on_delivery=cb)
        producer.poll(0)
    if producer.flush(60):
        errors.append("records still queued after flush(60)")
    with open(a.summary, "w") as f:
        json.dump({"topic": a.topic, "count": len(records), "records": records, "errors": errors}, f)
    if errors:
        print("\n".join(errors[:20]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
