#!/usr/bin/env python3
"""A mailslot client: sends each argument as one message.

    usage: client.py SLOT_PATH MESSAGE...
"""
import os
import sys

path = sys.argv[1]
# Write-only opens never create: ENOENT (FileNotFoundError) means no server.
client = os.open(path, os.O_WRONLY)
for text in sys.argv[2:]:
    os.write(client, text.encode())  # one write() is one message
    print(f"sent: {text}", flush=True)
os.close(client)
