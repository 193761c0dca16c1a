#!/usr/bin/env python3
"""Independent exactly-once check of a kafka-delta table with delta-rs (Python deltalake), for the fault suite.

  check_table.py --table PATH --app-prefix It_topic-p --produced summary.json [--produced ...]
                 [--dead-letter PATH] [--lost P:OFFSET ...]

Each --produced file is a producer summary ({"records": [{"partition", "offset"[, "kind"]}]}, as written by
scripts/produce_avro.py or scripts/faults/produce_poison.py): the offsets come from the producer's delivery
reports, never from arithmetic. Records whose "kind" is not "good" are expected in the dead-letter table (when
--dead-letter is given) and never in the table. --lost P:OFFSET says offsets below OFFSET of partition P were
deleted before the stream read them (retention), so they are expected in neither table.

Prints one JSON document: rows, expected, duplicates, missing, unexpected (with samples), the txn version of each
partition's appId against the next offset after the last produced record, and the same for the dead-letter table.
"""
import argparse
import collections
import json
import sys

from deltalake import DeltaTable


def positions(path):
    """(partition, offset) of every row of the table at `path`, as a list (duplicates kept), and the table."""
    dt = DeltaTable(path)
    kafka = dt.to_pyarrow_table(columns=["_kafka"]).column("_kafka").combine_chunks()
    parts = kafka.field("partition").to_pylist()
    offs = kafka.field("offset").to_pylist()
    return list(zip(parts, offs)), dt


def compare(found, expected):
    counts = collections.Counter(found)
    dups = sorted(p for p, n in counts.items() if n > 1)
    present = set(counts)
    missing = sorted(expected - present)
    unexpected = sorted(present - expected)
    return {
        "rows": len(found),
        "expected": len(expected),
        "duplicates": sum(n - 1 for n in counts.values() if n > 1),
        "duplicateSample": dups[:10],
        "missing": len(missing),
        "missingSample": missing[:10],
        "unexpected": len(unexpected),
        "unexpectedSample": unexpected[:10],
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--table", required=True)
    p.add_argument("--app-prefix", required=True)
    p.add_argument("--produced", action="append", default=[])
    p.add_argument("--dead-letter")
    p.add_argument("--lost", action="append", default=[])
    a = p.parse_args()

    lost = {int(k): int(v) for k, v in (x.split(":") for x in a.lost)}
    good, bad = set(), set()
    next_offset = {}
    for file in a.produced:
        with open(file) as f:
            summary = json.load(f)
        for r in summary["records"]:
            if "offset" not in r:
                print(f"record {r.get('i')} of {file} has no delivery report", file=sys.stderr)
                sys.exit(2)
            pos = (int(r["partition"]), int(r["offset"]))
            next_offset[pos[0]] = max(next_offset.get(pos[0], 0), pos[1] + 1)
            if pos[1] < lost.get(pos[0], -1):
                continue
            (good if r.get("kind", "good") == "good" else bad).add(pos)

    found, dt = positions(a.table)
    out = compare(found, good)
    out["version"] = dt.version()
    out["files"] = sorted(uri.rsplit("/", 1)[-1] for uri in dt.file_uris())
    out["txn"] = {str(part): dt.transaction_version(f"{a.app_prefix}{part}") for part in sorted(next_offset)}
    out["expectedTxn"] = {str(part): v for part, v in sorted(next_offset.items())}
    out["txnOk"] = out["txn"] == out["expectedTxn"]
    if a.dead_letter:
        try:
            dl_found, _ = positions(a.dead_letter)
        except Exception as e:  # no dead-letter table: nothing was dead-lettered
            if bad:
                raise
            dl_found = []
        out["deadLetter"] = compare(dl_found, bad)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
