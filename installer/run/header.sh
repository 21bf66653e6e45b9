#!/bin/sh
# Latent Chat @VERSION@: a self-contained installer. This shell header is followed by the
# program as a tar.xz archive; running the file unpacks it to a temporary folder, checks it and
# runs its install.sh with the arguments given here:
#   sh latent-chat-@VERSION@-*.run [--user | --system] [--prefix DIR] [--silent]
#   sh latent-chat-@VERSION@-*.run --extract DIR     (only unpack, install nothing)
# install.sh --help lists the options; <prefix>/uninstall.sh removes it again.
set -eu
payload_sha256=@SHA256@
line=$(awk '/^__LATENT_PAYLOAD_BELOW__$/ { print NR + 1; exit }' "$0")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/latent-chat-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
tail -n +"$line" "$0" > "$tmp/payload.tar.xz"
if command -v sha256sum >/dev/null 2>&1; then
    actual=$(sha256sum "$tmp/payload.tar.xz" | cut -d' ' -f1)
    if [ "$actual" != "$payload_sha256" ]; then
        echo "This installer is damaged (checksum mismatch); download it again." >&2
        exit 1
    fi
fi
if [ "${1:-}" = "--extract" ]; then
    mkdir -p "${2:?--extract needs a folder}"
    xz -dc "$tmp/payload.tar.xz" | tar -C "$2" -xf -
    echo "Unpacked to $2/@DIRNAME@"
    exit 0
fi
xz -dc "$tmp/payload.tar.xz" | tar -C "$tmp" -xf -
"$tmp/@DIRNAME@/install.sh" --from-run "$@"
exit $?
__LATENT_PAYLOAD_BELOW__
