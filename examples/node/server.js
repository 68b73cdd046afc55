#!/usr/bin/env node
// A mailslot server in Node.js: creates the slot, prints each message as it
// arrives, and stops after the message "quit".
//   usage: node server.js SLOT_PATH
//
// Node's streams do not read whole messages, so this reads with
// fs.readSync. The fd is non-blocking: an empty slot answers EAGAIN at once
// and the event loop stays free; the server looks again a little later.
'use strict';
const fs = require('fs');

const path = process.argv[2];
const { O_CREAT, O_EXCL, O_RDONLY, O_NONBLOCK } = fs.constants;
// O_CREAT with read access creates the slot: this fd is the server handle.
const server = fs.openSync(path, O_CREAT | O_EXCL | O_RDONLY | O_NONBLOCK, 0o666);
// Public, as a Windows mailslot is, whatever the umask.
fs.fchmodSync(server, 0o666);
// At least the largest message a mount carries by default (1044480 bytes);
// Node cannot read the slot's user.mailslot.max_message_size attribute.
const buffer = Buffer.alloc(1 << 20);
console.log('ready');

function drain() {
  for (;;) {
    let n;
    try {
      // position null: a plain read(), one whole message (slots cannot seek).
      n = fs.readSync(server, buffer, 0, buffer.length, null);
    } catch (err) {
      if (err.code === 'EAGAIN') {
        setTimeout(drain, 20);
        return;
      }
      throw err;
    }
    const text = buffer.toString('utf8', 0, n);
    console.log(`received: ${text}`);
    if (text === 'quit') {
      fs.closeSync(server); // the slot goes away with its server handle
      return;
    }
  }
}
drain();
