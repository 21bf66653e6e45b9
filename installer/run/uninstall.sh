#!/bin/sh
# Removes this Latent Chat installation: the files install.sh listed in installed-files.txt (links,
# desktop entry, icons, MIME type) and the program folder. Users' data — conversations, settings,
# logs in ~/.local/share/Latent Chat/latent-chat — is never touched; delete that folder yourself
# if you want it gone.
#   uninstall.sh [--silent]
set -eu
prefix=$(cd "$(dirname "$0")" && pwd)
silent=0
keep_prefix=0
for arg in "$@"; do
    case "$arg" in
        --silent|--quiet|-q) silent=1 ;;
        --keep-prefix) keep_prefix=1 ;; # install.sh replacing an older version
        *) echo "uninstall: unknown option '$arg'" >&2; exit 2 ;;
    esac
done
[ -f "$prefix/VERSION" ] && [ -x "$prefix/bin/latent-chat" ] || {
    echo "uninstall: $prefix does not look like a Latent Chat installation; nothing removed" >&2
    exit 1
}
if [ -f "$prefix/installed-files.txt" ]; then
    while IFS= read -r file; do
        case "$file" in /*) rm -f "$file" ;; esac
    done < "$prefix/installed-files.txt"
    share_dirs=$(sed -n 's|/applications/latent-chat.desktop$||p' "$prefix/installed-files.txt")
    for share in $share_dirs; do
        command -v update-mime-database >/dev/null 2>&1 && update-mime-database "$share/mime" >/dev/null 2>&1 || true
        command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$share/applications" 2>/dev/null || true
    done
fi
for item in bin lib share installed-files.txt VERSION; do rm -rf "${prefix:?}/$item"; done
if [ "$keep_prefix" = 0 ]; then
    rm -f "$prefix/uninstall.sh"
    rmdir "$prefix" 2>/dev/null || true
fi
[ "$silent" = 1 ] || echo "Latent Chat is removed from $prefix (your conversations and settings are kept)."
