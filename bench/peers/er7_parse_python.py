#!/usr/bin/python3
"""ER7 parse rate of Debian's python3-hl7 on one core: parse, then read PID-3.1, PID-5.1 and
PV1-3.1 (as bench/peers/er7_parse_peers.mjs does for the npm parsers).
    /usr/bin/python3 bench/peers/er7_parse_python.py MESSAGE_FILE [N]   -> one JSON line"""
import json
import sys
import time

import hl7


def main():
    path = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    with open(path, "rb") as handle:
        lines = handle.read().decode("latin-1").splitlines()
    text = "\r".join(line for line in lines if line)

    def run():
        message = hl7.parse(text)
        return (str(message.extract_field("PID", 1, 3, 1, 1)),
                str(message.extract_field("PID", 1, 5, 1, 1)),
                str(message.extract_field("PV1", 1, 3, 1, 1)))

    fields = run()
    for _ in range(min(count, 2000)):
        run()
    start = time.perf_counter()
    for _ in range(count):
        run()
    seconds = time.perf_counter() - start
    print(json.dumps({"name": "python3-hl7", "version": getattr(hl7, "__version__", "?"),
                      "messages": count, "seconds": seconds,
                      "per_second": round(count / seconds),
                      "ns_per_message": round(seconds * 1e9 / count),
                      "fields_read": [len(f) for f in fields]}))


if __name__ == "__main__":
    main()
