#!/usr/bin/env bash
# qemu-aarch64 registered with binfmt's F flag (the interpreter opened once, at registration), so arm64 binaries
# also run inside containers, where the host's interpreter path does not exist. Debian registers it without F.
# Needs root; keeps an F registration as it is.
set -euo pipefail
ENTRY=/proc/sys/fs/binfmt_misc/qemu-aarch64
[[ -e /proc/sys/fs/binfmt_misc/register ]] || mount binfmt_misc -t binfmt_misc /proc/sys/fs/binfmt_misc
if [[ -e "$ENTRY" ]] && grep -q '^flags: [A-Z]*F' "$ENTRY"; then
    exit 0
fi
INTERPRETER=/usr/libexec/qemu-binfmt/aarch64-binfmt-P
[[ -x "$INTERPRETER" ]] || INTERPRETER=$(command -v qemu-aarch64-static)
[[ -e "$ENTRY" ]] && echo -1 > "$ENTRY"
printf ':qemu-aarch64:M:0:\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:%s:FP' \
    "$INTERPRETER" > /proc/sys/fs/binfmt_misc/register
