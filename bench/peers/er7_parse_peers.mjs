#!/usr/bin/env node
// ER7 parse rate of the fastest npm parsers on one core: parse, then read PID-3.1 (NHS number),
// PID-5.1 (family name) and PV1-3.1 (location), so lazy parsers pay for what a mapper needs.
// Run from the folder whose node_modules holds them:
//   node bench/peers/er7_parse_peers.mjs MESSAGE_FILE [N]     -> one JSON line per parser
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const load = createRequire(pathToFileURL(`${process.cwd()}/`));
const [file, countText] = process.argv.slice(2);
const count = Number(countText ?? 100000);
const text = fs.readFileSync(file, 'latin1').split(/\r\n|\r|\n/).filter((s) => s).join('\r');
// Read package.json from disk: @medplum/core's "exports" do not expose it to require().
const version = (pkg) =>
  JSON.parse(fs.readFileSync(`${process.cwd()}/node_modules/${pkg}/package.json`, 'utf8')).version;

const parsers = [];
try {
  const hl7 = load('simple-hl7');
  const parser = new hl7.Parser();
  parsers.push({
    name: 'simple-hl7', version: version('simple-hl7'),
    run: (t) => {
      const m = parser.parse(t);
      const pid = m.getSegment('PID');
      // PID-3 repeats: getComponent() gives '' for a repeating field, so take repetition 1.
      return [pid.fields[2].value[0].value[0][0].toString(), pid.getComponent(5, 1),
        m.getSegment('PV1').getComponent(3, 1)];
    },
  });
} catch (e) { console.log(JSON.stringify({ name: 'simple-hl7', error: String(e.message) })); }
try {
  const { Hl7Message } = load('@medplum/core');
  parsers.push({
    name: '@medplum/core', version: version('@medplum/core'),
    run: (t) => {
      const m = Hl7Message.parse(t);
      const pid = m.getSegment('PID');
      return [pid.getField(3).getComponent(1), pid.getField(5).getComponent(1),
        m.getSegment('PV1').getField(3).getComponent(1)];
    },
  });
} catch (e) { console.log(JSON.stringify({ name: '@medplum/core', error: String(e.message) })); }

for (const parser of parsers) {
  const fields = parser.run(text);
  let sink = 0;
  for (let i = 0; i < Math.min(count, 20000); i += 1) sink += parser.run(text)[0].length; // JIT warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i += 1) sink += parser.run(text)[0].length;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(JSON.stringify({
    name: parser.name, version: parser.version, messages: count, seconds,
    per_second: Math.round(count / seconds), ns_per_message: Math.round((seconds * 1e9) / count),
    fields_read: fields.map((f) => String(f).length), sink,
  }));
}
