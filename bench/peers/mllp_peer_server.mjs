#!/usr/bin/env node
// An npm MLLP server answering every message with AA, keeping nothing (no persistence): the peer
// trustbridge's MLLP ingest is compared with. Run from the folder whose node_modules holds it:
//   node bench/peers/mllp_peer_server.mjs simple-hl7|medplum PORT
// Prints {"listening":true,...} once bound to 127.0.0.1:PORT; stops on SIGTERM.
import './loopback_only.mjs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const load = createRequire(pathToFileURL(`${process.cwd()}/`));
const [peer, portText] = process.argv.slice(2);
const port = Number(portText);
let handled = 0;

function started() {
  console.log(JSON.stringify({ peer, port, pid: process.pid, listening: true }));
}

if (peer === 'simple-hl7') {
  const hl7 = load('simple-hl7');
  const server = hl7.Server.createTcpServer((err, req, res) => {
    if (err) return;
    handled += 1;
    res.end(); // the library's own ACK: MSA|AA|<MSH-10>
  });
  server.start(port);
  server.server.once('listening', started);
} else if (peer === 'medplum') {
  const { Hl7Server } = load('@medplum/hl7');
  const server = new Hl7Server((connection) => {
    connection.addEventListener('message', ({ message }) => {
      handled += 1;
      connection.send(message.buildAck());
    });
  });
  server.start(port);
  server.server.once('listening', started);
} else {
  console.error(`unknown peer ${peer}: simple-hl7 or medplum`);
  process.exit(2);
}
process.on('SIGTERM', () => {
  console.log(JSON.stringify({ peer, handled }));
  process.exit(0);
});
