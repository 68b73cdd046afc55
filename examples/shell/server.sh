#!/bin/sh
# A mailslot server in plain shell: creates the slot, prints each message as
# it arrives, and stops after the message "quit".
#   usage: server.sh SLOT_PATH        e.g. server.sh /mailslot/example
set -eu
slot=${1:?usage: server.sh SLOT_PATH}

# <> opens read-write with O_CREAT: that creates the slot, and fd 3 is the
# server handle, the only one that may read it. On a name that exists it
# would open a client instead (as Windows' OPEN_ALWAYS does), and the shell
# has no O_EXCL for <>, so look first: a race only another server starting
# at the same instant could win (mailslot listen and the Python and C
# servers use O_EXCL and have none).
if [ -e "$slot" ]; then
    echo "server.sh: $slot exists: another server holds the name" >&2
    exit 1
fi
exec 3<>"$slot"
echo ready

while :; do
    # dd makes exactly one read(): one whole message. 1M is at least the
    # largest message a mount carries by default (1044480 bytes).
    msg=$(dd bs=1M count=1 status=none <&3)
    # An empty read means the slot's read timeout passed (none is set here).
    [ -n "$msg" ] || break
    printf 'received: %s\n' "$msg"
    [ "$msg" != quit ] || break
done
# Closing the server handle (or exiting) removes the slot.
exec 3<&-
