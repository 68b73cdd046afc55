#!/usr/bin/env python3
"""A mailslot server on an asyncio event loop: the server fd is non-blocking
and the loop calls back when a message is waiting (poll/epoll work on it like
on a pipe). Prints each message, stops after the message "quit".

    usage: asyncio_server.py SLOT_PATH
"""
import asyncio
import os
import sys


async def serve(path):
    server = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDONLY | os.O_NONBLOCK, 0o666)
    os.fchmod(server, 0o666)  # public, whatever the umask
    size = int(os.getxattr(path, "user.mailslot.max_message_size"))
    loop = asyncio.get_running_loop()
    finished = loop.create_future()

    def on_readable():
        # Take everything that is queued; EAGAIN means the slot is empty.
        while True:
            try:
                message = os.read(server, size)
            except BlockingIOError:
                return
            text = message.decode(errors="replace")
            print(f"received: {text}", flush=True)
            if text == "quit":
                loop.remove_reader(server)
                finished.set_result(None)
                return

    loop.add_reader(server, on_readable)
    print("ready", flush=True)
    await finished
    os.close(server)


asyncio.run(serve(sys.argv[1]))
