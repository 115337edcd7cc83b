#!/usr/bin/python3
"""Turns one scripts/bench.sh run folder into bench/results/<date>-<commit>.json and .md.

Inputs (written by scripts/bench.sh):
  RUN/micro/<binary>.json       Google Benchmark JSON of each micro benchmark binary
  RUN/peers/er7_parse_*.jsonl   ER7 parse rates of the npm parsers and python3-hl7
  RUN/macro/<case>.json         one tb_load (or bench/peers/mllp_peer_load.mjs) JSON line per case
Headline figures are ratios {name, ours, peer, unit, ratio, better}: ratio = ours / peer, and
`better` says which direction is good for us (so 1.2 with better=higher is 20% ahead, and 1.2
with better=lower is 20% behind)."""
import argparse
import glob
import json
import os


def read_json(path):
    """A whole JSON file (Google Benchmark), or the last line of a log that ends in one."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read().strip()
    except OSError:
        return None
    for candidate in (text, text.splitlines()[-1] if text else ""):
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return None


def read_jsonl(path):
    rows = []
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                line = line.strip()
                if line.startswith("{"):
                    rows.append(json.loads(line))
    except (OSError, ValueError):
        pass
    return rows


def read_lines(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return [line.rstrip("\n") for line in handle if line.strip()]
    except OSError:
        return []


def load_averages(run):
    """{phase: [1, 5, 15 minute load averages]} noted by bench.sh as each phase began."""
    loads = {}
    for line in read_lines(os.path.join(run, "loadavg.txt")):
        phase, *values = line.split()
        loads[phase] = [float(v) for v in values]
    return loads


def syscalls_per_message(run, name, case):
    """perf stat counts (RUN/macro/<case>.syscalls.csv, over the measured window) per message."""
    if not case or not case.get("rate") or not case.get("window_s"):
        return None
    per = {}
    for line in read_lines(os.path.join(run, "macro", name + ".syscalls.csv")):
        fields = line.split(",")
        if len(fields) > 2 and fields[0].isdigit():
            event = fields[2].split("sys_enter_")[-1]
            per[event] = round(int(fields[0]) / (case["rate"] * case["window_s"]), 2)
    return per or None


def micro_results(run):
    micro = {}
    for path in sorted(glob.glob(os.path.join(run, "micro", "*.json"))):
        data = read_json(path)
        if not data:
            continue
        rows = []
        for bench in data.get("benchmarks", []):
            if bench.get("run_type") == "aggregate":
                continue
            scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[bench.get("time_unit", "ns")]
            row = {"name": bench["name"],
                   "real_ns": round(bench["real_time"] * scale, 1),
                   "cpu_ns": round(bench["cpu_time"] * scale, 1)}
            if "items_per_second" in bench:
                row["items_per_second"] = round(bench["items_per_second"])
            for counter in ("bytes", "records_per_commit", "msgs_per_commit"):
                if counter in bench:
                    row[counter] = round(bench[counter], 1)
            rows.append(row)
        micro[os.path.basename(path)[:-5]] = rows
    return micro


def find_micro(micro, binary, name):
    for row in micro.get(binary, []):
        if row["name"] == name:
            return row
    return None


def ratio(ours, peer):
    if not ours or not peer:
        return None
    return round(ours / peer, 3)


def headline(name, ours, peer, unit, better, peer_name, target=None):
    return {"name": name, "ours": ours, "peer": peer, "unit": unit, "ratio": ratio(ours, peer),
            "better": better, "peer_name": peer_name, "target": target}


def added(total, base):
    """What a hop adds to the latency of what it sits in front of."""
    if total is None or base is None:
        return None
    return round(total - base, 2)


def ms(us):
    return round(us / 1000, 2) if us is not None else None


def per_cpu_second(case):
    cost = (case or {}).get("server_cpu_us_per_req") or 0
    return round(1e6 / cost) if cost > 0 else None


def build(args):
    run = args.run
    micro = micro_results(run)
    macro = {}
    for path in sorted(glob.glob(os.path.join(run, "macro", "*.json"))):
        name = os.path.basename(path)[:-5]
        macro[name] = read_json(path)
        per = syscalls_per_message(run, name, macro[name])
        if per:
            macro[name]["syscalls_per_msg"] = per
    parse_peers = read_jsonl(os.path.join(run, "peers", "er7_parse_npm.jsonl")) + \
        read_jsonl(os.path.join(run, "peers", "er7_parse_python.jsonl"))

    def case(name):
        return macro.get(name) or {}

    heads = []
    broker, nginx = case("fhir_broker_keepalive_c16"), case("fhir_nginx_keepalive_c16")
    heads.append(headline("fhir_read_mtls_keepalive_throughput", broker.get("rate"),
                          nginx.get("rate"), "req/s", "higher", "nginx mTLS proxy",
                          ">= 0.8x (goal 1.0x) per core"))
    heads.append(headline("fhir_read_mtls_keepalive_per_server_cpu", per_cpu_second(broker),
                          per_cpu_second(nginx), "req per server CPU-second", "higher",
                          "nginx mTLS proxy", ">= 0.8x (goal 1.0x)"))
    broker1, nginx1 = case("fhir_broker_keepalive_c1"), case("fhir_nginx_keepalive_c1")
    heads.append(headline("fhir_read_mtls_median_latency_1_conn", broker1.get("p50_us"),
                          nginx1.get("p50_us"), "us", "lower", "nginx mTLS proxy",
                          "added median latency no more than nginx's"))
    heads.append(headline("fhir_read_mtls_p99_latency_16_conns", broker.get("p99_us"),
                          nginx.get("p99_us"), "us", "lower", "nginx mTLS proxy", None))
    broker_new, nginx_new = case("fhir_broker_newconn_c16"), case("fhir_nginx_newconn_c16")
    heads.append(headline("fhir_read_mtls_full_handshake_throughput", broker_new.get("rate"),
                          nginx_new.get("rate"), "req/s", "higher", "nginx mTLS proxy",
                          ">= 0.9x"))
    heads.append(headline("fhir_read_mtls_full_handshake_per_server_cpu",
                          per_cpu_second(broker_new), per_cpu_second(nginx_new),
                          "req per server CPU-second", "higher", "nginx mTLS proxy", ">= 0.9x"))
    broker_res, nginx_res = case("fhir_broker_resumed_c16"), case("fhir_nginx_resumed_c16")
    heads.append(headline("fhir_read_mtls_resumed_handshake_throughput", broker_res.get("rate"),
                          nginx_res.get("rate"), "req/s", "higher", "nginx mTLS proxy", None))
    heads.append(headline("fhir_read_mtls_resumed_handshake_per_server_cpu",
                          per_cpu_second(broker_res), per_cpu_second(nginx_res),
                          "req per server CPU-second", "higher", "nginx mTLS proxy", None))

    trust0 = case("trust_T00_direct_c1")
    heads.append(headline("fhir_read_mtls_added_median_latency_1_conn",
                          added(broker1.get("p50_us"), trust0.get("p50_us")),
                          added(nginx1.get("p50_us"), trust0.get("p50_us")), "us", "lower",
                          "nginx mTLS proxy", "no more than nginx's (1.0x)"))

    ours_parse = find_micro(micro, "hl7v2_bench", "BM_ParseAndReadFields")
    npm = [p for p in parse_peers if "per_second" in p and p["name"] != "python3-hl7"]
    fastest_npm = max(npm, key=lambda p: p["per_second"]) if npm else {}
    python = next((p for p in parse_peers if p.get("name") == "python3-hl7"), {})
    ours_rate = (ours_parse or {}).get("items_per_second")
    heads.append(headline("er7_parse_and_read_3_fields", ours_rate, fastest_npm.get("per_second"),
                          "msgs/s (1 core)", "higher", fastest_npm.get("name"), ">= 10x"))
    heads.append(headline("er7_parse_and_read_3_fields_vs_python", ours_rate,
                          python.get("per_second"), "msgs/s (1 core)", "higher", "python3-hl7",
                          None))

    peers_mllp = {name: c for name, c in macro.items()
                  if name.startswith("mllp_peer_") and name.endswith("_ownclient_s16") and c}
    fastest = max(peers_mllp.items(), key=lambda kv: kv[1].get("rate", 0), default=(None, {}))
    peer_label = fastest[0][len("mllp_peer_"):-len("_ownclient_s16")] if fastest[0] else None
    durable = case("mllp_broker_durable_s16_p1000")
    heads.append(headline("mllp_tls_ingest_durable_16_senders", durable.get("rate"),
                          fastest[1].get("rate"), "msgs/s", "higher",
                          f"{peer_label} (plain TCP, no persistence, own client)",
                          ">= 1.0x; and >= 10,000 msgs/s with p99 < 20 ms"))
    heads.append(headline("mllp_tls_ingest_durable_per_server_cpu", per_cpu_second(durable),
                          per_cpu_second(fastest[1]), "msgs per server CPU-second", "higher",
                          f"{peer_label} (plain TCP, no persistence)", None))
    both_cores = case("mllp_broker_durable_s16_p1000_both_cores")
    if both_cores.get("rate"):
        heads.append(headline("mllp_tls_ingest_durable_16_senders_both_cores",
                              both_cores.get("rate"), None, "msgs/s", "higher",
                              "- (broker and sender share both cores)",
                              ">= 10,000 msgs/s with p99 < 20 ms"))
    group_commit = next((r for r in micro.get("store_bench", [])
                         if r["name"].startswith("BM_SqliteDurableAccept")
                         and r["name"].endswith("threads:16")), {})
    heads.append(headline("mllp_tls_ingest_durable_vs_sqlite_group_commit", durable.get("rate"),
                          group_commit.get("items_per_second"), "msgs/s", "higher",
                          "store_bench SqlInboundStore::Accept, 16 threads, same disk",
                          ">= 0.7x"))
    nodurable = case("mllp_broker_nodurable_s16_p1000")
    if nodurable.get("rate"):
        heads.append(headline("mllp_tls_ingest_no_durability_16_senders", nodurable.get("rate"),
                              fastest[1].get("rate"), "msgs/s", "higher",
                              f"{peer_label} (plain TCP, no persistence, own client)", ">= 2x"))

    fed = {n: case(f"federated_{n}_trusts") for n in (1, 3, 10)}
    trust20 = case("trust_T01_direct_20ms_c4")
    for n, c in fed.items():
        heads.append(headline(f"federated_query_p50_{n}_trusts", ms(c.get("p50_us")),
                              ms(trust20.get("p50_us")), "ms", "lower",
                              "one 20 ms trust queried directly", "within 5 ms of the trust"))
    targets = {
        "federated_p50_minus_slowest_trust_ms": {
            str(n): added(ms(c.get("p50_us")), ms(trust20.get("p50_us")))
            for n, c in fed.items()},
        "federated_target": "p50 within 5 ms of the slowest trust (20 ms)",
        "broker_idle_rss_kb": case("memory_idle").get("hwm_kb"),
        "broker_idle_rss_target_kb": 30 * 1024,
        "mllp_durable_target": ">= 10,000 msgs/s and p99 < 20 ms with 16 senders",
    }
    memory = {"idle": case("memory_idle").get("hwm_kb")}
    for name, c in macro.items():
        if c and "server_hwm_kb" in c and name.startswith(("fhir_broker", "federated",
                                                          "mllp_broker")):
            memory[name] = c["server_hwm_kb"]
    return {
        "date": args.date, "commit": args.commit, "machine": args.cpu,
        "load_average": load_averages(run),
        "tree_not_at_commit": read_lines(os.path.join(run, "tree_status.txt")),
        "seconds_per_case": args.seconds,
        "command": "scripts/bench.sh",
        "headline": heads, "targets": targets, "memory_peak_kb": memory,
        "macro": macro, "micro": micro, "parse_peers": parse_peers,
        "message_sizes": case("message_sizes").get("bytes"),
    }


def fmt(value, digits=0):
    if value is None:
        return "-"
    if isinstance(value, float) and digits:
        return f"{value:,.{digits}f}"
    return f"{value:,.0f}" if isinstance(value, (int, float)) else str(value)


def macro_row(label, c, extra=""):
    return (f"| {label} | {extra}{fmt(c.get('rate'))} | {fmt(c.get('p50_us'))} | "
            f"{fmt(c.get('p99_us'))} | {fmt(c.get('server_cpu_us_per_req'), 1)} | "
            f"{fmt(c.get('server_hwm_kb'))} |")


def scaling(result):
    """How cost grows with message size, number of trusts and number of patients."""
    macro = result["macro"]
    sizes = result.get("message_sizes") or {}
    lines = ["", "## How cost grows", "", "### With message size", "",
             "ER7 parse + read 3 fields of an ORU^R01 with N OBX segments (hl7v2_bench, one core, "
             "CPU time):", "", "| OBX | bytes | ns per message | ns per KB |",
             "|---:|---:|---:|---:|"]
    for row in result["micro"].get("hl7v2_bench", []):
        if row["name"].startswith("BM_ParseAndReadFieldsOru/") and row.get("bytes"):
            obx = row["name"].split("/")[1]
            lines.append(f"| {obx} | {fmt(row['bytes'])} | {fmt(row['cpu_ns'])} | "
                         f"{fmt(row['cpu_ns'] * 1024 / row['bytes'])} |")
    lines += ["", "MLLP/TLS ingest, durable ACK, 16 senders, 1,000 patients:", "",
              "| message | bytes | msgs/s | p50 us | p99 us | server CPU us/msg | peak RSS KB |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for label, name, size in (("ADT^A01", "mllp_broker_durable_s16_p1000", "adt_a01"),
                              ("ORU^R01, 10 OBX", "mllp_broker_durable_s16_oru10obx", "oru_10obx"),
                              ("ORU^R01, 100 OBX", "mllp_broker_durable_s16_oru100obx",
                               "oru_100obx")):
        lines.append(macro_row(label, macro.get(name) or {}, f"{fmt(sizes.get(size))} | "))
    lines += ["", "### With the number of trusts (federated Patient search, each trust answers "
              "in 20 ms, 4 clients)", "",
              "| trusts | req/s | p50 us | p99 us | server CPU us/req | peak RSS KB |",
              "|---|---:|---:|---:|---:|---:|"]
    lines.append(macro_row("0 (one trust queried directly)",
                           macro.get("trust_T01_direct_20ms_c4") or {}))
    for n in (1, 3, 10):
        lines.append(macro_row(str(n), macro.get(f"federated_{n}_trusts") or {}))
    lines += ["", "### With the number of patients (MLLP/TLS ingest of ADT^A01, durable ACK)", "",
              "| senders, patients | msgs/s | p50 us | p99 us | server CPU us/msg | peak RSS KB |",
              "|---|---:|---:|---:|---:|---:|"]
    for label, name in (("16, 16", "mllp_broker_durable_s16_p16"),
                        ("16, 1,000", "mllp_broker_durable_s16_p1000"),
                        ("16, 1,000, broker and sender on both cores",
                         "mllp_broker_durable_s16_p1000_both_cores"),
                        ("16, 20,000", "mllp_broker_durable_s16_p20000"),
                        ("16, no NHS number (no locator work)", "mllp_broker_durable_s16_no_nhs"),
                        ("1, 1,000", "mllp_broker_durable_s1_p1000")):
        lines.append(macro_row(label, macro.get(name) or {}))
    return lines


def markdown(result):
    lines = [f"# Benchmarks {result['date']} at {result['commit']}", "",
             f"Machine: {result['machine']}. Command: `{result['command']}` "
             f"({result['seconds_per_case']} s measured per macro case). Server pinned to CPU1, "
             "load client to CPU0 (except the case marked \"both cores\"); loopback, real mutual TLS (ECDSA P-256).", ""]
    loads = result.get("load_average") or {}
    if loads:
        lines += ["Load average (1, 5, 15 min) as each phase began - other engineers build on this "
                  "machine, so absolute figures are low and noisy; ratios come from the same run: " +
                  ", ".join(f"{phase} {' / '.join(str(v) for v in values)}"
                            for phase, values in loads.items()) + ".", ""]
    dirty = result.get("tree_not_at_commit") or []
    if dirty:
        lines += [f"Built from the working tree: {len(dirty)} tracked files differed from "
                  f"{result['commit']} (others' work in progress): "
                  + ", ".join(d.split()[-1] for d in dirty[:12])
                  + (" ..." if len(dirty) > 12 else "") + ".", ""]
    lines += ["## Headline ratios (ratio = ours / peer)", "",
             "| figure | ours | peer | unit | ratio | better | peer | target |",
             "|---|---:|---:|---|---:|---|---|---|"]
    for h in result["headline"]:
        lines.append(f"| {h['name']} | {fmt(h['ours'])} | {fmt(h['peer'])} | {h['unit']} | "
                     f"{fmt(h['ratio'], 2)} | {h['better']} | {h['peer_name'] or '-'} | "
                     f"{h['target'] or '-'} |")
    lines += ["", "## Macro cases", "",
              "| case | conc. | ok/s | p50 us | p99 us | server CPU us/req | peak RSS KB | errors | "
              "bad replies | fdatasync/msg | pwrite64/msg |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, c in sorted(result["macro"].items()):
        if not c or "rate" not in c:
            if c and c.get("skipped"):
                lines.append(f"| {name} | skipped: {c['skipped']} | | | | | | | | | |")
            continue
        per = c.get("syscalls_per_msg") or {}
        lines.append(f"| {name} | {c['concurrency']} | {fmt(c['rate'])} | {fmt(c['p50_us'])} | "
                     f"{fmt(c['p99_us'])} | {fmt(c.get('server_cpu_us_per_req'), 1)} | "
                     f"{fmt(c.get('server_hwm_kb'))} | {c.get('errors', 0)} | "
                     f"{c.get('bad_replies', 0)} | {fmt(per.get('fdatasync'), 2)} | "
                     f"{fmt(per.get('pwrite64'), 1)} |")
    t = result["targets"]
    lines += ["", "## Targets", "",
              f"- Federated query p50 minus the slowest trust's 20 ms, by number of trusts: "
              f"{t['federated_p50_minus_slowest_trust_ms']} ms (target: within 5 ms).",
              f"- Broker idle peak RSS: {fmt(t['broker_idle_rss_kb'])} KB (target < 30 MB).",
              f"- MLLP durable: {t['mllp_durable_target']}.", "",
              "## Peak RSS of the broker (VmHWM, reset before each case)", ""]
    for name, kb in result["memory_peak_kb"].items():
        lines.append(f"- {name}: {fmt(kb)} KB")
    if result.get("message_sizes"):
        lines += ["", f"Message sizes (bytes): {result['message_sizes']}"]
    lines += scaling(result)
    lines += ["", "## ER7 parse peers (parse + read PID-3.1, PID-5.1, PV1-3.1, one core)", ""]
    for p in result["parse_peers"]:
        if "per_second" in p:
            lines.append(f"- {p['name']} {p.get('version', '')}: {fmt(p['per_second'])} msgs/s")
    lines += ["", "## Micro benchmarks (Release, one core)", "",
              "CPU time is the thread's own; real time also counts waits (fsync, locks) and "
              "time the core spent on other people's builds.", "",
              "| binary | benchmark | ns/op (real) | ns/op (CPU) | items/s |",
              "|---|---|---:|---:|---:|"]
    for binary, rows in result["micro"].items():
        for row in rows:
            lines.append(f"| {binary} | {row['name']} | {fmt(row['real_ns'])} | "
                         f"{fmt(row['cpu_ns'])} | {fmt(row.get('items_per_second'))} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", required=True)
    parser.add_argument("--commit", required=True)
    parser.add_argument("--date", required=True)
    parser.add_argument("--cpu", default="")
    parser.add_argument("--seconds", default="")
    parser.add_argument("--out", required=True, help="path without extension")
    args = parser.parse_args()
    result = build(args)
    with open(args.out + ".json", "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=1)
        handle.write("\n")
    with open(args.out + ".md", "w", encoding="utf-8") as handle:
        handle.write(markdown(result))


if __name__ == "__main__":
    main()
