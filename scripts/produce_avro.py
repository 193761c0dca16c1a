#!/usr/bin/env python3
"""Produce Confluent-framed Avro records with the *official* confluent-kafka client
(SerializingProducer + AvroSerializer + SchemaRegistryClient), as an independent producer
for kafka-delta tests.

  $PYTHON scripts/produce_avro.py --bootstrap 127.0.0.1:9092 \
      --registry-url http://127.0.0.1:8081/apis/ccompat/v7 --topic t1 \
      --schema schema.avsc --count 100 --partitions 3 --summary out.json

Records are generated deterministically from the schema (record i gets values derived from i),
or read from --input (JSON lines, one record per line; Avro JSON-ish: plain values, unions as
plain values). Record i goes to partition i % partitions unless --no-partition-assign (then the
key hash decides). Keys are the string str(i) (or --key-field's value).

Security (flags override env):
  Kafka:    KAFKA_SECURITY_PROTOCOL (PLAINTEXT|SASL_SSL|SSL), KAFKA_SASL_MECHANISM (PLAIN|SCRAM-SHA-512|...),
            KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, KAFKA_SSL_CA_LOCATION
  Registry: SCHEMA_REGISTRY_USER, SCHEMA_REGISTRY_PASSWORD, SCHEMA_REGISTRY_CA_FILE

The summary (--summary FILE, default stdout) is JSON:
  {"topic", "schema_id", "subject", "count", "partitions": {"0": n, ...},
   "records": [{"i", "key", "partition", "offset"[, "value"]}]}
Exit status is non-zero if any record failed delivery.
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import decimal
import json
import os
import sys
import time
import uuid

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext, StringSerializer
from confluent_kafka import SerializingProducer

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


# --------------------------------------------------------------------------- generation
class Gen:
    """Deterministic value generator for an Avro schema (parsed JSON)."""

    def __init__(self, schema):
        self.named: dict[str, object] = {}
        self.root = schema

    def _register(self, s, ns=None):
        if isinstance(s, dict) and s.get("type") in ("record", "error", "enum", "fixed"):
            name = s["name"]
            ns = s.get("namespace", ns)
            full = name if "." in name or not ns else f"{ns}.{name}"
            self.named[full] = s
            self.named[name] = s
        return ns

    def value(self, s, i: int, path: str = "", ns=None):
        if isinstance(s, list):  # union: alternate between branches, null only every 5th record
            non_null = [b for b in s if b != "null" and not (isinstance(b, dict) and b.get("type") == "null")]
            if "null" in s and (i % 5 == 4 or not non_null):
                return None
            branch = non_null[i % len(non_null)]
            v = self.value(branch, i, path, ns)
            return v
        if isinstance(s, str):
            if s in PRIMITIVES:
                return self.primitive(s, i, path)
            named = self.named.get(s) or (ns and self.named.get(f"{ns}.{s}"))
            if named is None:
                raise ValueError(f"unknown type {s!r} at {path}")
            return self.value(named, i, path, ns)
        t = s.get("type")
        lt = s.get("logicalType")
        if lt:
            v = self.logical(s, lt, i, path)
            if v is not NotImplemented:
                return v
        if t in PRIMITIVES:
            return self.primitive(t, i, path)
        if t in ("record", "error"):
            ns = self._register(s, ns)
            return {f["name"]: self.value(f["type"], i, f"{path}.{f['name']}", ns) for f in s["fields"]}
        if t == "enum":
            self._register(s, ns)
            return s["symbols"][i % len(s["symbols"])]
        if t == "fixed":
            self._register(s, ns)
            return bytes((i + k) % 256 for k in range(s["size"]))
        if t == "array":
            return [self.value(s["items"], i + k, f"{path}[]", ns) for k in range(i % 3)]
        if t == "map":
            return {f"k{k}": self.value(s["values"], i + k, f"{path}{{}}", ns) for k in range(i % 3)}
        if isinstance(t, (dict, list)) or (isinstance(t, str) and t not in PRIMITIVES):
            return self.value(t, i, path, ns)
        raise ValueError(f"unsupported schema at {path}: {s!r}")

    @staticmethod
    def primitive(t: str, i: int, path: str):
        if t == "null":
            return None
        if t == "boolean":
            return i % 2 == 0
        if t == "int":
            return i
        if t == "long":
            return i * 1_000_003
        if t in ("float", "double"):
            return i + 0.5
        if t == "bytes":
            return f"b{i}".encode()
        if t == "string":
            return f"{path.rsplit('.', 1)[-1] or 's'}-{i}"
        raise ValueError(t)

    @staticmethod
    def logical(s, lt: str, i: int, path: str):
        base = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=i)
        if lt in ("timestamp-millis", "timestamp-micros"):
            return base
        if lt in ("local-timestamp-millis", "local-timestamp-micros"):
            return base.replace(tzinfo=None)
        if lt == "date":
            return dt.date(2024, 1, 1) + dt.timedelta(days=i)
        if lt in ("time-millis", "time-micros"):
            return dt.time(i // 3600 % 24, i // 60 % 60, i % 60)
        if lt == "uuid":
            return str(uuid.UUID(int=i))
        if lt == "decimal":
            scale = int(s.get("scale", 0))
            return decimal.Decimal(i).scaleb(-scale) + decimal.Decimal(1).scaleb(-scale)
        return NotImplemented


def jsonable(v):
    if isinstance(v, bytes):
        return {"$bytes": base64.b64encode(v).decode()}
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [jsonable(x) for x in v]
    return v


# --------------------------------------------------------------------------- config
def _fatal_auth_errors(err):
    # librdkafka retries authentication failures forever; a test tool should fail fast instead.
    from confluent_kafka import KafkaError
    if err.code() in (KafkaError._AUTHENTICATION, KafkaError._SSL) or err.fatal():
        print(f"fatal Kafka error: {err}", file=sys.stderr)
        sys.stderr.flush()
        os._exit(2)


def kafka_conf(a) -> dict:
    conf = {"bootstrap.servers": a.bootstrap, "error_cb": _fatal_auth_errors}
    proto = (a.security_protocol or os.environ.get("KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT").upper()
    conf["security.protocol"] = proto
    if proto.startswith("SASL"):
        conf["sasl.mechanism"] = a.sasl_mechanism or os.environ.get("KAFKA_SASL_MECHANISM") or "PLAIN"
        conf["sasl.username"] = a.sasl_username or os.environ["KAFKA_SASL_USERNAME"]
        conf["sasl.password"] = a.sasl_password or os.environ["KAFKA_SASL_PASSWORD"]
    if proto.endswith("SSL"):
        ca = a.ssl_ca or os.environ.get("KAFKA_SSL_CA_LOCATION") or os.environ.get("KAFKA_CA_FILE")
        if ca:
            conf["ssl.ca.location"] = ca
    return conf


def registry_conf(a) -> dict:
    # without a timeout httpx waits forever on a connection that never answers; the client retries transport
    # errors, timeouts included
    conf = {"url": a.registry_url, "timeout": 20, "max.retries": 5}
    user = a.registry_user or os.environ.get("SCHEMA_REGISTRY_USER")
    pw = a.registry_password or os.environ.get("SCHEMA_REGISTRY_PASSWORD")
    if user and (a.registry_url.startswith("https") or a.registry_auth):
        conf["basic.auth.user.info"] = f"{user}:{pw}"
    ca = a.registry_ca or os.environ.get("SCHEMA_REGISTRY_CA_FILE")
    if ca and a.registry_url.startswith("https"):
        conf["ssl.ca.location"] = ca
    return conf


def ensure_partitions(admin: AdminClient, topic: str, n: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while True:  # short metadata attempts so error_cb (auth/TLS failures) gets served in between
        try:
            md = admin.list_topics(timeout=2)
            break
        except KafkaException:
            admin.poll(0.5)
            if time.monotonic() > deadline:
                raise
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        fut = admin.create_topics([NewTopic(topic, num_partitions=n, replication_factor=1)])[topic]
        try:
            fut.result(timeout)
        except KafkaException as e:
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise
    else:
        have = len(t.partitions)
        if have < n:
            admin.create_partitions([NewPartitions(topic, n)])[topic].result(timeout)
        elif have > n:
            print(f"note: topic {topic} already has {have} partitions (> {n})", file=sys.stderr)
    # wait until metadata shows the partitions with leaders
    for _ in range(100):
        t = admin.list_topics(topic=topic, timeout=timeout).topics.get(topic)
        if t and t.error is None and len(t.partitions) >= n and all(p.leader >= 0 for p in t.partitions.values()):
            return len(t.partitions)
        time.sleep(0.1)
    raise RuntimeError(f"topic {topic} not ready with {n} partitions")


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    p.add_argument("--registry-url", default=os.environ.get("SCHEMA_REGISTRY_URL"), required=not os.environ.get("SCHEMA_REGISTRY_URL"))
    p.add_argument("--topic", required=True)
    p.add_argument("--schema", required=True, help="Avro schema file (.avsc JSON)")
    p.add_argument("--count", type=int, default=None, help="records to produce (default 10; with --input: all lines)")
    p.add_argument("--start", type=int, default=0, help="first record index (for generated records)")
    p.add_argument("--partitions", type=int, default=1, help="create/extend the topic to N partitions; record i -> i %% N")
    p.add_argument("--no-partition-assign", action="store_true", help="let the key hash choose the partition")
    p.add_argument("--input", help="JSON lines file with records (instead of generating); --count caps it")
    p.add_argument("--key-field", help="use this record field as the key (default: str(i))")
    p.add_argument("--subject-strategy", choices=["topic", "record", "topic_record"], default="topic")
    p.add_argument("--no-auto-register", action="store_true", help="use.latest.version instead of registering")
    p.add_argument("--include-values", action="store_true", help="put the produced values into the summary")
    p.add_argument("--summary", help="write the JSON summary here (default: stdout)")
    p.add_argument("--compression", choices=["none", "gzip", "snappy", "lz4", "zstd"],
                   help="the producer's compression.type (default: librdkafka's, none)")
    p.add_argument("--security-protocol")
    p.add_argument("--sasl-mechanism")
    p.add_argument("--sasl-username")
    p.add_argument("--sasl-password")
    p.add_argument("--ssl-ca")
    p.add_argument("--registry-user")
    p.add_argument("--registry-password")
    p.add_argument("--registry-ca")
    p.add_argument("--registry-auth", action="store_true", help="send basic auth even over http")
    a = p.parse_args(argv)

    with open(a.schema) as f:
        schema_str = f.read()
    schema = json.loads(schema_str)

    from confluent_kafka.schema_registry import (record_subject_name_strategy, topic_record_subject_name_strategy,
                                                 topic_subject_name_strategy)
    strategy = {"topic": topic_subject_name_strategy, "record": record_subject_name_strategy,
                "topic_record": topic_record_subject_name_strategy}[a.subject_strategy]
    sr = SchemaRegistryClient(registry_conf(a))
    ser_conf = {"subject.name.strategy": strategy}
    if a.no_auto_register:
        ser_conf.update({"auto.register.schemas": False, "use.latest.version": True})
    value_ser = AvroSerializer(sr, schema_str, conf=ser_conf)

    kconf = kafka_conf(a)
    admin = AdminClient(dict(kconf))
    nparts = ensure_partitions(admin, a.topic, max(1, a.partitions))

    producer = SerializingProducer({
        **kconf,
        "key.serializer": StringSerializer("utf_8"),
        "value.serializer": value_ser,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        **({"compression.type": a.compression} if a.compression else {}),
    })

    if a.input:
        def records():
            with open(a.input) as f:
                n = 0
                for line in f:
                    if not line.strip():
                        continue
                    if a.count is not None and n >= a.count:
                        return
                    yield a.start + n, json.loads(line)
                    n += 1
    else:
        gen = Gen(schema)

        def records():
            for k in range(10 if a.count is None else a.count):
                i = a.start + k
                yield i, gen.value(schema, i)

    results: list[dict] = []
    errors: list[str] = []

    def on_delivery(slot):
        def cb(err, msg):
            if err is not None:
                errors.append(f"record {slot['i']}: {err}")
            else:
                slot["partition"] = msg.partition()
                slot["offset"] = msg.offset()
                if "schema_id" not in summary and msg.value() and len(msg.value()) >= 5:
                    summary["schema_id"] = int.from_bytes(msg.value()[1:5], "big")
        return cb

    summary: dict = {"topic": a.topic}
    for i, rec in records():
        key = str(rec[a.key_field]) if a.key_field else str(i)
        slot = {"i": i, "key": key}
        if a.include_values:
            slot["value"] = jsonable(rec)
        results.append(slot)
        kw = {} if a.no_partition_assign else {"partition": i % nparts}
        while True:
            try:
                producer.produce(a.topic, key=key, value=rec, on_delivery=on_delivery(slot), **kw)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(60)
    if remaining:
        errors.append(f"{remaining} records still in queue after flush(60)")

    parts: dict[str, int] = {}
    for r in results:
        if "partition" in r:
            parts[str(r["partition"])] = parts.get(str(r["partition"]), 0) + 1
    full_name = schema.get("name") if not schema.get("namespace") else f"{schema['namespace']}.{schema['name']}"
    subject = strategy(SerializationContext(a.topic, MessageField.VALUE), full_name)
    summary.update({
        "subject": subject,
        "count": sum(1 for r in results if "offset" in r),
        "partitions": parts,
        "records": results,
    })
    if errors:
        summary["errors"] = errors
    out = json.dumps(summary, indent=None, separators=(",", ":"))
    if a.summary:
        with open(a.summary, "w") as f:
            f.write(out + "\n")
        print(f"produced {summary['count']} records to {a.topic} (schema id {summary.get('schema_id')}), "
              f"partitions {parts}; summary -> {a.summary}", file=sys.stderr)
    else:
        print(out)
    if errors:
        print("delivery errors:\n  " + "\n  ".join(errors[:20]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
