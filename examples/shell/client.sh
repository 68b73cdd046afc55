#!/bin/sh
# A mailslot client in plain shell: sends each argument as one message.
#   usage: client.sh SLOT_PATH MESSAGE...
set -eu
slot=${1:?usage: client.sh SLOT_PATH MESSAGE...}
shift

# A write-only open never creates a slot: it fails unless a server made it.
exec 4>"$slot"
for m in "$@"; do
    # printf writes a short message with one write(), which is one message.
    # Longer ones may be split by the shell: use `mailslot send` for those.
    printf '%s' "$m" >&4
    printf 'sent: %s\n' "$m"
done
