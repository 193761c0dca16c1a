#!/usr/bin/env python3
"""Produces good Confluent-framed Avro records mixed with poison ones, with a raw confluent_kafka.Producer, for the
fault suite's bad-record scenarios.

  produce_poison.py --topic T --count N --partitions P --every K --summary out.json

Record i goes to partition i % P. Every K-th record (i % K == K - 1) is poison, cycling through the kinds
bad-magic (first byte 1), unknown-id (magic 0 and a schema id the registry does not hold), truncated (a good
frame cut after its header and one body byte) and null (a tombstone: no value). All other records are good:
serialized by confluent-kafka's AvroSerializer against the real registry. The summary lists every record with
its kind and the partition and offset from its delivery report.
"""
import argparse
import json
import os
import sys

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

SCHEMA = {
    "type": "record", "name": "Event", "namespace": "faults",
    "fields": [{"name": "id", "type": "long"}, {"name": "name", "type": "string"}, {"name": "amount", "type": "double"}],
}
KINDS = ["bad-magic", "unknown-id", "truncated", "null"]
UNKNOWN_ID = 987654321


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    p.add_argument("--registry-url", default=os.environ.get("SCHEMA_REGISTRY_URL"))
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--partitions", type=int, default=1)
    p.add_argument("--every", type=int, default=10)
    p.add_argument("--summary", required=True)
    a = p.parse_args()

    # every step is bounded and says where it is: a step that hangs (a registry connection that never answers)
    # must fail with its name, not be killed silently by the harness's timeout
    step = lambda name: print(f"produce_poison: {name}", file=sys.stderr, flush=True)
    step(f"creating topic {a.topic}")
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    for future in admin.create_topics([NewTopic(a.topic, a.partitions, 1)], request_timeout=30).values():
        future.result(timeout=60)
    step(f"registering the schema at {a.registry_url}")
    # httpx waits forever without a timeout; the client retries transport errors (timeouts included)
    serializer = AvroSerializer(SchemaRegistryClient({"url": a.registry_url, "timeout": 20, "max.retries": 5}), json.dumps(SCHEMA))
    ctx = SerializationContext(a.topic, MessageField.VALUE)
    producer = Producer({"bootstrap.servers": a.bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5})
    records, errors = [], []
    poison = 0
    for i in range(a.count):
        good = serializer({"id": i, "name": f"name-{i}-" + "x" * 20, "amount": i * 1.5}, ctx)
        kind = "good"
        if i % a.every == a.every - 1:
            kind = KINDS[poison % len(KINDS)]
            poison += 1
        value = {
            "good": good,
            "bad-magic": b"\x01" + good[1:],
            "unknown-id": b"\x00" + UNKNOWN_ID.to_bytes(4, "big") + good[5:],
            "truncated": good[:6],
            "null": None,
        }[kind]
        slot = {"i": i, "kind": kind}
        records.append(slot)

        def cb(err, msg, slot=slot):
            if err is not None:
                errors.append(f"record {slot['i']}: {err}")
            else:
                slot["partition"], slot["offset"] = msg.partition(), msg.offset()
        producer.produce(a.topic, key=str(i), value=value, partition=i % a.partitions, on_delivery=cb)
        producer.poll(0)
        if i == 0:
            step(f"producing {a.count} records")
    step("flushing")
    if producer.flush(60):
        errors.append("records still queued after flush(60)")
    with open(a.summary, "w") as f:
        json.dump({"topic": a.topic, "records": records, "errors": errors}, f)
    if errors:
        print("\n".join(errors[:20]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
