#!/usr/bin/env node
// Interop probe: sends HL7 v2 messages to an MLLP/TLS endpoint with the npm package
// node-hl7-client (a third-party MLLP client, not our code) and prints one line per
// acknowledgement: "<MSA-1> <MSA-2>". Exit 0 when every message was answered, 1 otherwise.
//   node node_hl7_client_send.cjs NODE_MODULES_DIR HOST PORT CA CERT KEY FILE...
// Each FILE holds one message (segments separated by CR, LF or CRLF).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const [modules, host, port, ca, cert, key, ...files] = process.argv.slice(2);
if (!modules || files.length === 0) {
  console.error('usage: node_hl7_client_send.cjs NODE_MODULES_DIR HOST PORT CA CERT KEY FILE...');
  process.exit(2);
}
const { Client, Message } = require(path.join(modules, 'node-hl7-client'));

const texts = files.map((f) => fs.readFileSync(f, 'latin1').replace(/\r\n|\n/g, '\r').replace(/\r+$/, ''));
const client = new Client({
  host,
  connectionTimeout: 5000,
  tls: {
    ca: fs.readFileSync(ca),
    cert: fs.readFileSync(cert),
    key: fs.readFileSync(key),
    servername: undefined,
    checkServerIdentity: () => undefined,  // the dev PKI names 127.0.0.1 by IP; the CA check still applies
    rejectUnauthorized: true,
  },
});

// One message at a time: send the next only after the previous one's ACK. (With waitAck,
// node-hl7-client 3.2.0 spins forever when several messages are queued before it connects.)
let answered = 0;
const timer = setTimeout(() => {
  console.error(`timed out with ${answered} of ${texts.length} acknowledgements`);
  process.exit(1);
}, 20000);

const connection = client.createConnection({ port: Number(port), waitAck: true }, async (res) => {
  const ack = res.getMessage();
  console.log(`${ack.get('MSA.1').toString()} ${ack.get('MSA.2').toString()}`);
  answered += 1;
  if (answered === texts.length) {
    clearTimeout(timer);
    await connection.close();
    process.exit(0);
  }
  await send(answered);
});
connection.on('client.error', (err) => {
  console.error(`client error: ${err && err.message ? err.message : err}`);
});
connection.once('connect', () => {
  send(0);
});

async function send(index) {
  try {
    await connection.sendMessage(new Message({ text: texts[index] }));
  } catch (err) {
    console.error(`send failed: ${err && err.message ? err.message : err}`);
    process.exit(1);
  }
}
