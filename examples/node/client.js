#!/usr/bin/env node
// A mailslot client in Node.js: sends each argument as one message.
//   usage: node client.js SLOT_PATH MESSAGE...
'use strict';
const fs = require('fs');

const [path, ...messages] = process.argv.slice(2);
// Write-only opens never create: ENOENT means no server created the slot.
const client = fs.openSync(path, fs.constants.O_WRONLY);
for (const text of messages) {
  const bytes = Buffer.from(text);
  // One write() is one message; a slot takes it whole or not at all.
  const n = fs.writeSync(client, bytes);
  if (n !== bytes.length) throw new Error(`short write: ${n} of ${bytes.length}`);
  console.log(`sent: ${text}`);
}
fs.closeSync(client);
