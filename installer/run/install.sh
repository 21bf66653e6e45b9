#!/bin/sh
# Installs Latent Chat from the unpacked self-contained installer (this folder) for one user or
# for everyone, and registers it with the desktop: launchers on PATH, the desktop entry (with the
# installed path in Exec), the icons, the GGUF MIME type. Every file written outside the prefix is
# listed in <prefix>/installed-files.txt for <prefix>/uninstall.sh. Users' data (conversations,
# settings, logs in ~/.local/share/Latent Chat) is never touched, here or by the uninstaller.
set -eu

usage() {
    cat <<'HELP'
Usage: latent-chat-VERSION-ARCH.run [options]
  --user          install for the current user: ~/.local/opt/latent-chat, launchers in
                  ~/.local/bin, menu entry in ~/.local/share (the default when not root)
  --system        install for every user: /opt/latent-chat, launchers in /usr/local/bin,
                  menu entry in /usr/local/share (the default as root)
  --prefix DIR    install the program into DIR instead
  --silent        ask nothing, print only errors (unattended installs)
  --help          show this help
An existing installation in the same prefix is replaced (users' data is kept).
HELP
}

here=$(cd "$(dirname "$0")" && pwd)
mode=""
prefix=""
silent=0
while [ $# -gt 0 ]; do
    case "$1" in
        --from-run) ;;
        --user) mode=user ;;
        --system) mode=system ;;
        --prefix) prefix=${2:?--prefix needs a folder}; shift ;;
        --prefix=*) prefix=${1#--prefix=} ;;
        --silent|--quiet|-q) silent=1 ;;
        --help|-h) usage; exit 0 ;;
        *) echo "install: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
say() { [ "$silent" = 1 ] || echo "$@"; }

if [ -z "$mode" ]; then
    if [ "$(id -u)" = 0 ]; then mode=system; else mode=user; fi
fi
if [ "$mode" = system ]; then
    share=/usr/local/share
    bindir=/usr/local/bin
    [ -n "$prefix" ] || prefix=/opt/latent-chat
else
    share=${XDG_DATA_HOME:-$HOME/.local/share}
    bindir=$HOME/.local/bin
    [ -n "$prefix" ] || prefix=$HOME/.local/opt/latent-chat
fi
case "$prefix" in /*) ;; *) prefix=$(pwd)/$prefix ;; esac
version=$(cat "$here/VERSION")

if [ "$silent" = 0 ] && [ -t 0 ]; then
    printf 'Install Latent Chat %s into %s (%s)? [Y/n] ' "$version" "$prefix" "$mode"
    read -r answer || answer=n
    case "$answer" in ""|y|Y|yes) ;; *) echo "Nothing installed."; exit 1 ;; esac
fi

# An older installation in this prefix goes first (its own uninstaller knows its files).
if [ -x "$prefix/uninstall.sh" ]; then
    "$prefix/uninstall.sh" --silent --keep-prefix
fi
mkdir -p "$prefix"
for item in bin lib share install.sh uninstall.sh VERSION; do
    rm -rf "${prefix:?}/$item"
    cp -a "$here/$item" "$prefix/$item"
done
rm -f "$prefix/install.sh"

list="$prefix/installed-files.txt"
: > "$list"
put() { # put SOURCE DEST: copy (or link, with -l) and record
    link=0
    if [ "$1" = -l ]; then link=1; shift; fi
    mkdir -p "$(dirname "$2")"
    rm -f "$2"
    if [ "$link" = 1 ]; then ln -s "$1" "$2"; else cp "$1" "$2"; chmod 0644 "$2"; fi
    echo "$2" >> "$list"
}
put -l "$prefix/bin/latent-chat" "$bindir/latent-chat"
put -l "$prefix/bin/latent" "$bindir/latent"
sed "s|^Exec=latent-chat|Exec=\"$prefix/bin/latent-chat\"|" "$prefix/share/applications/latent-chat.desktop" > "$prefix/latent-chat.desktop"
put "$prefix/latent-chat.desktop" "$share/applications/latent-chat.desktop"
rm -f "$prefix/latent-chat.desktop"
for icon in "$prefix"/share/icons/hicolor/*/apps/latent-chat.*; do
    size=$(basename "$(dirname "$(dirname "$icon")")")
    put "$icon" "$share/icons/hicolor/$size/apps/$(basename "$icon")"
done
put "$prefix/share/mime/packages/latent-chat.xml" "$share/mime/packages/latent-chat.xml"
put "$prefix/share/metainfo/org.latentchat.LatentChat.metainfo.xml" "$share/metainfo/org.latentchat.LatentChat.metainfo.xml"

# Caches of the desktop (each tool is optional; the files work without them after a re-login).
command -v update-mime-database >/dev/null 2>&1 && update-mime-database "$share/mime" >/dev/null 2>&1 || true
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$share/applications" 2>/dev/null || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$share/icons/hicolor" 2>/dev/null || true

say "Latent Chat $version is installed in $prefix."
say "Start it from the applications menu, or run: $bindir/latent-chat"
case ":$PATH:" in *":$bindir:"*) ;; *) say "($bindir is not on your PATH; add it to run latent-chat and latent by name.)" ;; esac
say "To remove it: $prefix/uninstall.sh"
