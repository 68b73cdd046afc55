#!/usr/bin/env python3
"""A blocking mailslot server: creates the slot, prints each message as it
arrives, and stops after the message "quit".

    usage: server.py SLOT_PATH        e.g. server.py /mailslot/example
"""
import os
import sys

path = sys.argv[1]
# O_CREAT with read access creates the slot; this fd is the server handle.
# O_EXCL makes a name that another server holds fail with EEXIST.
server = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDONLY, 0o666)
# Public, as a Windows mailslot is: every user may open it as a client (the
# umask, usually 022, took the write bits away from the mode above).
os.fchmod(server, 0o666)
# GetMailslotInfo: a buffer this large never fails with EMSGSIZE.
size = int(os.getxattr(path, "user.mailslot.max_message_size"))
print("ready", flush=True)

while True:
    message = os.read(server, size)  # one whole message per read
    if not message:  # the slot's read timeout passed (none is set here)
        break
    text = message.decode(errors="replace")
    print(f"received: {text}", flush=True)
    if text == "quit":
        break
os.close(server)  # the slot goes away with its server handle
