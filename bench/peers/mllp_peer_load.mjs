#!/usr/bin/env node
// Drives an npm MLLP server with that library's OWN client: SENDERS connections, each sending a
// message and waiting for its ACK before the next (as an HL7 sender does). Every message gets a
// unique MSH-10. Prints one JSON line with the same keys as tb_load.
//   node bench/peers/mllp_peer_load.mjs simple-hl7|medplum PORT MESSAGE_FILE SENDERS WARMUP_S \
//        DURATION_S [SERVER_PID]
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const load = createRequire(pathToFileURL(`${process.cwd()}/`));
const [peer, portText, file, sendersText, warmupText, durationText, pidText] =
  process.argv.slice(2);
const port = Number(portText);
const senders = Number(sendersText);
const serverPid = pidText ? Number(pidText) : 0;

const segments = fs.readFileSync(file, 'latin1').split(/\r\n|\r|\n/).filter((s) => s.length > 0);
const msh = segments[0].split('|');
let sequence = 0;
function nextMessage() {
  sequence += 1;
  msh[9] = `P${process.pid}-${sequence}`; // MSH-10 (element 1 is MSH-2)
  return [msh.join('|'), ...segments.slice(1)].join('\r');
}

function cpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks
  } catch {
    return 0;
  }
}
function hwmKb(pid) {
  try {
    const match = /VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

const positive = (ack) => /MSA\|(AA|CA)/.test(ack);
let measuring = false;
let stopping = false;
const latencies = [];
let errors = 0;
let badReplies = 0;
let firstError = '';

function note(ok, start, ack, error) {
  if (!measuring) return;
  if (error) {
    errors += 1;
    firstError ||= String(error.message ?? error).slice(0, 200);
  } else if (!positive(ack)) {
    badReplies += 1;
    firstError ||= `reply: ${ack.slice(0, 200)}`;
  } else {
    latencies.push(Number(process.hrtime.bigint() - start) / 1000);
  }
}

async function simpleSender() {
  const hl7 = load('simple-hl7');
  const parser = new hl7.Parser();
  const client = hl7.Server.createTcpClient({ host: '127.0.0.1', port, keepalive: true });
  while (!stopping) {
    const start = process.hrtime.bigint();
    const message = parser.parse(nextMessage());
    const [error, ack] = await new Promise((resolve) =>
      client.send(message, (err, reply) => resolve([err, reply ? reply.toString() : ''])));
    note(!error, start, ack, error);
  }
  client.close();
}

async function medplumSender() {
  const { Hl7Client } = load('@medplum/hl7');
  const { Hl7Message } = load('@medplum/core');
  const client = new Hl7Client({ host: '127.0.0.1', port });
  while (!stopping) {
    const start = process.hrtime.bigint();
    try {
      const ack = await client.sendAndWait(Hl7Message.parse(nextMessage()));
      note(true, start, ack.toString(), null);
    } catch (error) {
      note(false, start, '', error);
    }
  }
  await client.close();
}

const sender = { 'simple-hl7': simpleSender, medplum: medplumSender }[peer];
if (!sender) {
  console.error(`unknown peer ${peer}`);
  process.exit(2);
}
const running = Array.from({ length: senders }, () => sender().catch((e) => note(false, 0n, '', e)));
const sleep = (s) => new Promise((resolve) => setTimeout(resolve, s * 1000));
await sleep(Number(warmupText));
const cpu0 = cpuSeconds(serverPid);
const t0 = process.hrtime.bigint();
measuring = true;
await sleep(Number(durationText));
measuring = false;
const window = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu1 = cpuSeconds(serverPid);
stopping = true;
await Promise.race([Promise.all(running), sleep(3)]);

latencies.sort((a, b) => a - b);
const rank = (p) => (latencies.length ? latencies[Math.max(0, Math.ceil(p * latencies.length) - 1)] : 0);
const round = (x) => Math.round(x * 1000) / 1000;
console.log(JSON.stringify({
  mode: `mllp-plain-${peer}-client`, concurrency: senders, window_s: round(window),
  ok: latencies.length, errors, bad_replies: badReplies, rate: round(latencies.length / window),
  p50_us: round(rank(0.5)), p90_us: round(rank(0.9)), p99_us: round(rank(0.99)),
  max_us: round(latencies.at(-1) ?? 0), server_cpu_s: round(cpu1 - cpu0),
  server_cpu_us_per_req: latencies.length ? round(((cpu1 - cpu0) * 1e6) / latencies.length) : 0,
  server_hwm_kb: hwmKb(serverPid), first_error: firstError,
}));
process.exit(0);
