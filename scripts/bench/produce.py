"""The producer of `npm run bench`: registers the writer schema under `<topic>-value` (so the id in the frames
resolves through the registry), creates the topic with N partitions, and sends pre-encoded Avro bodies framed
Confluent-style (magic 0 + the registered id, big-endian) with the plain confluent-kafka Producer, record i to
partition i % partitions with key str(i). Serializing in Python would make producing the slowest part of the
benchmark; the bodies come from the demo generator (src/demo/events.ts) via a file of length-prefixed bodies.

Usage: produce.py <bootstrap> <registry url> <topic> <schema.avsc> <bodies file> <partitions> [compression.type]
Prints one JSON line: schema id, records, bytes, seconds.
"""
import json
import struct
import sys
import time
import urllib.request

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic


def register(registry, subject, schema_text):
    body = json.dumps({"schema": schema_text, "schemaType": "AVRO"}).encode()
    request = urllib.request.Request(
        f"{registry}/subjects/{subject}/versions", data=body, method="POST",
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        schema_id = json.load(response)["id"]
    # the id must resolve back to the same schema, or every frame would be a bad record
    with urllib.request.urlopen(f"{registry}/schemas/ids/{schema_id}", timeout=30) as response:
        stored = json.loads(json.load(response)["schema"])
    if stored.get("name") != json.loads(schema_text).get("name"):
        raise SystemExit(f"registry id {schema_id} resolves to another schema")
    return schema_id


def main():
    bootstrap, registry, topic, schema_file, bodies_file, partitions = sys.argv[1:7]
    partitions = int(partitions)
    compression = sys.argv[7] if len(sys.argv) > 7 else "none"
    with open(schema_file) as f:
        schema_text = f.read()
    schema_id = register(registry, f"{topic}-value", schema_text)
    header = b"\x00" + struct.pack(">I", schema_id)

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)]).values():
        future.result(timeout=60)

    producer = Producer({
        "bootstrap.servers": bootstrap,
        "linger.ms": 50,
        "batch.size": 1_000_000,
        "batch.num.messages": 100_000,
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
        "compression.type": compression,
        "acks": "all",
        "enable.idempotence": False,
    })
    failed = []

    def delivered(error, _message):
        if error is not None:
            failed.append(str(error))

    started = time.time()
    sent = 0
    total = 0
    with open(bodies_file, "rb") as f:
        data = f.read()
    view = memoryview(data)
    position = 0
    end = len(data)
    while position < end:
        (length,) = struct.unpack_from("<I", data, position)
        position += 4
        value = header + view[position:position + length]
        position += length
        while True:
            try:
                producer.produce(topic, value=value, key=str(sent).encode(), partition=sent % partitions, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        sent += 1
        total += len(value)
        if sent % 10_000 == 0:
            producer.poll(0)
    remaining = producer.flush(120)
    seconds = time.time() - started
    if remaining or failed:
        raise SystemExit(f"{remaining} records not delivered, {len(failed)} failed: {failed[:3]}")
    print(json.dumps({"schemaId": schema_id, "records": sent, "bytes": total, "seconds": round(seconds, 3)}))


if __name__ == "__main__":
    main()
