"""Reads riskgate topics as the original demo's Python services do.

kafka-python 2.0.2 as the demo pins it, without the optional codec modules
(python-snappy, lz4, zstandard): the script first proves none is importable,
then reads every record of the given topics from the beginning to their end
offsets, decodes each value as JSON and prints one JSON line per record:
{"topic": ..., "partition": ..., "offset": ..., "value": {...}}. A last line
{"done": true, "markers": N, "isolation": ...} counts transaction markers.

kafka-python before 2.1 has no isolation_level and hands the commit markers
of transactional topics (audit.v1) to the application as records; they are
recognised by their shape (4-byte key: version 0 and type 0 or 1; 6-byte
value) and counted, not decoded. Anything else that is not JSON fails.

Usage: kafka_python_read.py BROKER TOPIC...
Exit status 0 on success; a message on stderr and 1 otherwise.
"""

import importlib.util
import json
import sys
import time

import kafka
from kafka import KafkaConsumer, TopicPartition
from kafka.codec import has_gzip, has_lz4, has_snappy, has_zstd


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) < 3:
        fail("usage: kafka_python_read.py BROKER TOPIC...")
    broker, topics = sys.argv[1], sys.argv[2:]

    extras = [m for m in ("snappy", "lz4", "zstandard") if importlib.util.find_spec(m)]
    if extras or has_snappy() or has_lz4() or has_zstd():
        fail("codec extras are installed (%s); this check needs kafka-python without them" % ", ".join(extras))
    if not has_gzip():
        fail("kafka-python cannot even read gzip")

    config = dict(
        bootstrap_servers=[broker],
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="demo-python",
        api_version_auto_timeout_ms=30000,
    )
    isolation = "read_uncommitted (not supported by kafka-python %s)" % kafka.__version__
    if "isolation_level" in KafkaConsumer.DEFAULT_CONFIG:
        config["isolation_level"] = "read_committed"
        isolation = "read_committed"
    consumer = KafkaConsumer(**config)

    parts = []
    for topic in topics:
        ids = consumer.partitions_for_topic(topic)
        if not ids:
            fail("topic %s has no partitions" % topic)
        parts += [TopicPartition(topic, p) for p in sorted(ids)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    end = consumer.end_offsets(parts)

    markers = 0
    deadline = time.time() + 60
    while any(consumer.position(tp) < end[tp] for tp in parts):
        if time.time() > deadline:
            fail("timed out at %s, end offsets %s" % ({str(tp): consumer.position(tp) for tp in parts}, end))
        for tp, records in consumer.poll(timeout_ms=500).items():
            for r in records:
                if r.offset >= end[tp]:
                    continue
                if r.key is not None and len(r.key) == 4 and r.key[:3] == b"\0\0\0" and r.key[3] in (0, 1) \
                        and r.value is not None and len(r.value) == 6:
                    markers += 1
                    continue
                try:
                    value = json.loads(r.value.decode("utf-8"))
                except (AttributeError, UnicodeDecodeError, ValueError) as e:
                    fail("%s[%d]@%d: not JSON (%s): %r" % (r.topic, r.partition, r.offset, e, r.value))
                print(json.dumps({"topic": r.topic, "partition": r.partition, "offset": r.offset, "value": value}))
    consumer.close()
    print(json.dumps({"done": True, "markers": markers, "isolation": isolation, "kafka_python": kafka.__version__}))


if __name__ == "__main__":
    main()
