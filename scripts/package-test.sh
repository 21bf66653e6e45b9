#!/usr/bin/env bash
# The install test of the packages (issue 12): builds the Debian packages and the .run installer
# (scripts/build-packages.sh), checks them (lintian, appstreamcli, desktop-file-validate), then in
# clean Debian 12 roots made by debootstrap (chroot; needs root and a Debian mirror):
#   deb root:  apt-get installs latent alone (no Qt package comes with it): latent --version,
#              latent info and run on a model made by latent make-model, latent devices (says GPU
#              support is not installed), latent docs (says which package it needs); then
#              latent-chat (dependencies from the mirror): latent docs index/search work,
#              latent-chat --version and a headless start
#              (offscreen platform) that migrates a version-1 history, reads the system settings
#              and lists the shared model folder; latent-chat-cuda installed: the plugin loads
#              and says there is no driver; an upgrade (0.1.0-1 -> 0.1.0-2) keeps the history
#              working; remove and purge leave the user's data directory byte-identical.
#   run root:  no Qt package at all (checked): the .run installs system-wide and per user,
#              latent-chat starts offscreen, the uninstaller leaves the data byte-identical.
# Without debootstrap or root it installs into a throwaway prefix instead (dpkg-deb -x) and
# runs what it can there, saying so. Everything is written under $LATENT_PACKAGE_TEST_DIR
# (default /tmp/latent-package-test); the minbase root is cached in
# ${XDG_CACHE_HOME:-~/.cache}/latent-package-test.
#   scripts/package-test.sh [BUILD_DIR]      (LATENT_PACKAGE_TEST_SKIP_BUILD=1: use what is built)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
build=$(realpath -m "${1:-build-pkg}")
work=${LATENT_PACKAGE_TEST_DIR:-/tmp/latent-package-test}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/latent-package-test
failures=0
step() { printf '\n== %s\n' "$*"; }
pass() { printf 'PASS: %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; failures=$((failures + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

if [ -z "${LATENT_PACKAGE_TEST_SKIP_BUILD:-}" ]; then
    step "build the packages"
    scripts/build-packages.sh "$build"
fi
pkgdir="$build/packages"
deb() { ls "$pkgdir"/"$1"_*.deb 2>/dev/null | head -1; }
deb_cli=$(deb latent); deb_app=$(deb latent-chat); deb_cuda=$(deb latent-chat-cuda); run=$(ls "$pkgdir"/latent-chat-*.run | head -1)
[ -f "$deb_cli" ] && [ -f "$deb_app" ] && [ -f "$run" ] || { echo "packages missing in $pkgdir" >&2; exit 1; }
rm -rf "$work"; mkdir -p "$work" "$cache"

step "package sizes"
for f in "$pkgdir"/*.deb "$run"; do
    printf '%-60s %8s KiB  installed %8s KiB\n' "$(basename "$f")" "$(( $(stat -c %s "$f") / 1024 ))" \
        "$(case "$f" in *.deb) dpkg-deb -f "$f" Installed-Size ;; *) echo - ;; esac)"
done

step "static checks"
for f in "$deb_cli" "$deb_app" ${deb_cuda:+"$deb_cuda"}; do
    lintian --tag-display-limit 0 "$f" > "$work/lintian-$(basename "$f").txt" 2>&1 || true
    cat "$work/lintian-$(basename "$f").txt"
    check "lintian $(basename "$f"): no errors" bash -c "! grep -q '^E:' '$work/lintian-$(basename "$f").txt'"
done
check "appstreamcli validate --no-net" appstreamcli validate --no-net resources/org.latentchat.LatentChat.metainfo.xml
check "desktop-file-validate" desktop-file-validate resources/latent-chat.desktop
check "latent-chat-cuda does not ship libcuda" bash -c "[ -z '$deb_cuda' ] || ! dpkg-deb -c '$deb_cuda' | grep -q 'libcuda\.so'"
for f in "$deb_cli" "$deb_app"; do
    check "$(basename "$f") depends on no CUDA library" bash -c "! dpkg-deb -f '$f' Depends | grep -qi -e cuda -e cublas"
done
check "latent-chat conffiles" bash -c "dpkg-deb -I '$deb_app' conffiles | grep -qx /etc/xdg/latent-chat/latent-chat.conf"

# ---- A clean Debian 12 root ------------------------------------------------------------------
can_chroot=0
if [ "$(id -u)" = 0 ] && command -v debootstrap >/dev/null; then can_chroot=1; fi
mounted=()
cleanup() { for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done; }
trap cleanup EXIT
make_root() { # make_root DIR: a fresh minbase bookworm root (cached tarball), /proc mounted
    if [ ! -f "$cache/bookworm-minbase.tar" ]; then
        debootstrap --variant=minbase bookworm "$cache/root" "${LATENT_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >/dev/null
        tar -C "$cache/root" -cf "$cache/bookworm-minbase.tar" . && rm -rf "$cache/root"
    fi
    mkdir -p "$1"; tar -C "$1" -xf "$cache/bookworm-minbase.tar"
    cp /etc/resolv.conf "$1/etc/resolv.conf"
    mkdir -p "$cache/archives"; cp -a "$cache/archives/." "$1/var/cache/apt/archives/" 2>/dev/null || true
    mount -t proc proc "$1/proc" && mounted+=("$1/proc")
    in_root "$1" apt-get update -qq
}
in_root() { local root=$1; shift; chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
save_archives() { cp -a "$1/var/cache/apt/archives/"*.deb "$cache/archives/" 2>/dev/null || true; }
snapshot() { (cd "$1" && find . -print0 | sort -z | xargs -0 -r stat -c '%n %s %a %Y' && find . -type f -print0 | sort -z | xargs -0 -r sha256sum); }
# A version-1 history (the schema of app/src/storage/database_schema.cpp's migrateTo1) with one
# conversation, for the app to migrate.
make_v1_history() {
    mkdir -p "$1"
    python3 - "$src/app/src/storage/database_schema.cpp" "$1/latent.db" <<'PY'
import re, sqlite3, sys
text = open(sys.argv[1]).read()
schema = re.search(r'void migrateTo1\(sqlite3\* db\) \{\s*exec\(db, R"sql\((.*?)\)sql"', text, re.S).group(1)
db = sqlite3.connect(sys.argv[2])
db.executescript(schema)
db.execute("INSERT INTO conversations VALUES (1, 'Kept across installs', 1700000000000, 1700000000000, '', '', '{}')")
db.execute("INSERT INTO messages (id, conversation_id, role, content, status, created_at) VALUES (1, 1, 'user', 'hello from v1', 'complete', 1700000000000)")
db.commit()
PY
}
history_ok() { # history_ok DB: migrated past version 1 and the message is there
    python3 - "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
version = db.execute("PRAGMA user_version").fetchone()[0]
text = db.execute("SELECT content FROM messages WHERE id = 1").fetchone()[0]
sys.exit(0 if version >= 2 and text == "hello from v1" else 1)
PY
}
start_app() { # start_app ROOT DATA_DIR [latent-chat path]: a headless start that saves a screenshot and quits
    in_root "$1" env QT_QPA_PLATFORM=offscreen QT_QUICK_BACKEND=software timeout 120 "${3:-latent-chat}" --data-dir "$2" \
        --screenshot /tmp/shot.png --screenshot-delay 1000 > "$work/app-start.log" 2>&1
}

if [ "$can_chroot" = 1 ]; then
    step "deb root: install latent alone with apt-get (no Qt)"
    root="$work/deb-root"
    make_root "$root"
    cp "$deb_cli" "$deb_app" "$root/tmp/"
    check "apt-get install -y ./latent_*.deb" \
        in_root "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "/tmp/$(basename "$deb_cli")"
    check "latent pulled in no Qt package" bash -c "! chroot '$root' dpkg-query -W -f='\${Package}\n' | grep -i -e qt -e qml"
    check "latent --version" in_root "$root" latent --version
    check "latent make-model" in_root "$root" latent make-model --shape tiny --type q8_0 --out /tmp/tiny-q8_0.gguf
    check "latent info on it" bash -c "chroot '$root' latent info -m /tmp/tiny-q8_0.gguf | tee '$work/info.txt' | grep -q deepseek2"
    check "latent run on it" bash -c "chroot '$root' latent run -m /tmp/tiny-q8_0.gguf -p hi -n 4 --temp 0 > /dev/null"
    in_root "$root" latent devices > "$work/devices.txt" 2>&1 || true; cat "$work/devices.txt"
    check "latent devices says GPU support is not installed" grep -q "GPU support is not installed" "$work/devices.txt"
    in_root "$root" latent docs list --db /tmp/docs.db > "$work/docs-alone.txt" 2>&1 || true; cat "$work/docs-alone.txt"
    check "without latent-chat, latent docs names the package it needs" grep -q "document library is not installed.*latent-chat package" "$work/docs-alone.txt"

    step "deb root: install latent-chat with apt-get"
    check "apt-get install -y ./latent-chat_*.deb" \
        in_root "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "/tmp/$(basename "$deb_app")"
    save_archives "$root"
    check "the administrator puts the model into the shared folder" cp "$root/tmp/tiny-q8_0.gguf" "$root/usr/share/latent-chat/models/"
    mkdir -p "$root/tmp/docs" && printf '# Valves\n\nThe Zephyr valve is tightened to 12 Nm.\n' > "$root/tmp/docs/valves.md"
    check "latent docs index (the latent-chat package's document library)" in_root "$root" latent docs index --db /tmp/docs.db /tmp/docs
    check "latent docs search finds the passage" bash -c "chroot '$root' latent docs search --db /tmp/docs.db --json 'Zephyr torque' | grep -q '/tmp/docs/valves.md'"
    check "the engine library belongs to latent" bash -c "chroot '$root' dpkg -S /usr/lib/latent-chat/liblatent-engine.so | grep -q '^latent:'"
    check "latent and latent-chat use the packaged engine library" bash -c "chroot '$root' ldd /usr/bin/latent /usr/bin/latent-chat | grep liblatent-engine | grep -v -q -E '=> /usr/(bin/\.\./)?lib/latent-chat/liblatent-engine.so' && exit 1; chroot '$root' ldd /usr/bin/latent-chat | grep -q -E '/usr/(bin/\.\./)?lib/latent-chat/liblatent-engine.so'"
    check "latent-chat --version" bash -c "chroot '$root' latent-chat --version | grep -q '0\.'"
    check "the MIME type knows GGUF by content" bash -c "chroot '$root' sh -c 'test -f /usr/share/mime/application/x-gguf.xml || update-mime-database /usr/share/mime; grep -q GGUF /usr/share/mime/magic'"
    cat > "$root/etc/xdg/latent-chat/latent-chat.conf" <<'CONF'
[Settings]
systemPrompt=Answer for the staff of Example Ltd.
Locked=systemPrompt
CONF
    data="$root/root/.local/share/Latent Chat/latent-chat"
    make_v1_history "$data"
    check "latent-chat starts headless (offscreen)" start_app "$root" "/root/.local/share/Latent Chat/latent-chat"
    cat "$work/app-start.log"
    check "the headless start saved its window" test -s "$root/tmp/shot.png"
    check "the version-1 history was migrated and kept" history_ok "$data/latent.db"
    check "a backup was made before the migration" test -f "$data/latent.db.v1.bak"
    check "the system settings were read" grep -q "system settings from /etc/xdg/latent-chat/latent-chat.conf" "$data/latent-chat.log"
    check "the shared model folder lists the model" grep -q "shared model folders (/usr/share/latent-chat/models): 1 models" "$data/latent-chat.log"

    if [ -n "$deb_cuda" ]; then
        step "deb root: GPU support package"
        cp "$deb_cuda" "$root/tmp/"
        check "apt-get install ./latent-chat-cuda_*.deb" in_root "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "/tmp/$(basename "$deb_cuda")"
        rm -f "$root/tmp/$(basename "$deb_cuda")"
        in_root "$root" latent devices > "$work/devices-cuda.txt" 2>&1 || true; cat "$work/devices-cuda.txt"
        check "with the plugin and no driver, latent devices says so" grep -q "no NVIDIA driver is installed" "$work/devices-cuda.txt"
        in_root "$root" latent run -m /usr/share/latent-chat/models/tiny-q8_0.gguf -p hi -n 4 --backend auto -v > "$work/run-cuda.txt" 2>&1 || true
        check "auto falls back to the CPU and says why" grep -q "using cpu" "$work/run-cuda.txt"
        check "remove latent-chat-cuda" in_root "$root" env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq latent-chat-cuda
    fi

    step "deb root: upgrade keeps the history working"
    for f in "$deb_cli" "$deb_app"; do # the same packages as version 0.1.0-2
        rm -rf "$work/repack"; dpkg-deb -R "$f" "$work/repack"
        sed -i -e 's/^Version: \(.*\)-1$/Version: \1-2/' -e 's/(= \([^)]*\)-1)/(= \1-2)/g' "$work/repack/DEBIAN/control"
        dpkg-deb --root-owner-group -Zxz -b "$work/repack" "$root/tmp/" >/dev/null
    done
    check "apt-get install the 0.1.0-2 packages" bash -c "chroot '$root' sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq /tmp/latent_*-2_*.deb /tmp/latent-chat_*-2_*.deb'"
    check "installed version is 0.1.0-2" bash -c "chroot '$root' dpkg-query -W -f='\${Version}' latent-chat | grep -q -- '-2$'"
    check "the conffile kept the administrator's edit" grep -q "Example Ltd" "$root/etc/xdg/latent-chat/latent-chat.conf"
    check "latent-chat starts after the upgrade" start_app "$root" "/root/.local/share/Latent Chat/latent-chat"
    check "the history is still there" history_ok "$data/latent.db"

    step "deb root: remove and purge leave the data byte-identical"
    snapshot "$data" > "$work/data-before.txt"
    check "apt-get remove" in_root "$root" env DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq latent-chat latent
    check "apt-get purge" in_root "$root" env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq latent-chat latent
    snapshot "$data" > "$work/data-after.txt"
    check "data directory byte-identical after remove + purge" cmp -s "$work/data-before.txt" "$work/data-after.txt"
    check "the shared model the administrator put there is kept" test -f "$root/usr/share/latent-chat/models/tiny-q8_0.gguf"
    check "purge removed the conffile" test ! -e "$root/etc/xdg/latent-chat/latent-chat.conf"

    step "run root: the self-contained installer where no Qt is installed"
    rroot="$work/run-root"
    make_root "$rroot"
    # A desktop's base libraries (GL, X11, fonts), but nothing of Qt.
    in_root "$rroot" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        libgl1 libopengl0 libegl1 libx11-6 libx11-xcb1 libxcb1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libfreetype6 \
        fonts-dejavu-core libglib2.0-0 libdbus-1-3 libgssapi-krb5-2 libwayland-client0 libwayland-cursor0 libwayland-egl1 xz-utils >/dev/null
    save_archives "$rroot"
    check "no Qt package in the root" bash -c "! chroot '$rroot' dpkg-query -W -f='\${Package}\n' | grep -i -e qt -e qml"
    cp "$run" "$rroot/tmp/"
    check ".run --silent --system" in_root "$rroot" sh "/tmp/$(basename "$run")" --silent --system
    check "latent-chat --version from /usr/local/bin" bash -c "chroot '$rroot' /usr/local/bin/latent-chat --version | grep -q '0\.'"
    check "latent --version" in_root "$rroot" /usr/local/bin/latent --version
    in_root "$rroot" /usr/local/bin/latent devices > "$work/run-devices.txt" 2>&1 || true; cat "$work/run-devices.txt"
    check "latent (.run) says GPU support is not installed" grep -q "GPU support is not installed" "$work/run-devices.txt"
    mkdir -p "$rroot/tmp/docs" && printf '# Valves\n\nThe Zephyr valve is tightened to 12 Nm.\n' > "$rroot/tmp/docs/valves.md"
    check "latent docs (.run) index + search with the bundled document library" bash -c "chroot '$rroot' /usr/local/bin/latent docs index --db /tmp/docs.db /tmp/docs >/dev/null && chroot '$rroot' /usr/local/bin/latent docs search --db /tmp/docs.db --json Zephyr | grep -q valves.md"
    check "the .run's programs use its own engine library" bash -c "chroot '$rroot' ldd /opt/latent-chat/bin/latent /opt/latent-chat/bin/latent-chat | grep liblatent-engine | grep -v -q -E '=> /opt/latent-chat/(bin/\.\./)?lib/latent-chat/liblatent-engine.so' && exit 1; chroot '$rroot' ldd /opt/latent-chat/bin/latent-chat | grep -q -E 'liblatent-engine.so => /opt/latent-chat/(bin/\.\./)?lib/latent-chat/'"
    check "the .run carries one engine library and no GPU plugin" bash -c "[ \"\$(find '$rroot/opt/latent-chat' -name 'liblatent-engine.so*' | wc -l)\" = 1 ] && [ -z \"\$(find '$rroot/opt/latent-chat' -name 'liblatent-cuda*' -o -name 'libcublas*')\" ]"
    check "desktop entry points into /opt" grep -q '^Exec="/opt/latent-chat/bin/latent-chat"' "$rroot/usr/local/share/applications/latent-chat.desktop"
    check "MIME type registered" test -f "$rroot/usr/local/share/mime/packages/latent-chat.xml"
    rdata="$rroot/root/.local/share/Latent Chat/latent-chat"
    make_v1_history "$rdata"
    check "latent-chat (.run) starts headless" start_app "$rroot" "/root/.local/share/Latent Chat/latent-chat" /usr/local/bin/latent-chat
    cat "$work/app-start.log"
    check "no library came from outside the installer or the base system" bash -c "! chroot '$rroot' ldd /opt/latent-chat/bin/latent-chat | grep -q 'not found'"
    check "its history was migrated" history_ok "$rdata/latent.db"
    snapshot "$rdata" > "$work/run-data-before.txt"
    check "uninstall.sh" in_root "$rroot" /opt/latent-chat/uninstall.sh --silent
    snapshot "$rdata" > "$work/run-data-after.txt"
    check "data directory byte-identical after uninstall" cmp -s "$work/run-data-before.txt" "$work/run-data-after.txt"
    check "nothing left in /opt and /usr/local" bash -c "[ ! -e '$rroot/opt/latent-chat' ] && [ -z \"\$(find '$rroot/usr/local' -name '*latent*')\" ]"
    check ".run --silent per user (~/.local)" in_root "$rroot" sh "/tmp/$(basename "$run")" --silent --user
    check "per-user latent-chat --version" bash -c "chroot '$rroot' /root/.local/bin/latent-chat --version | grep -q '0\.'"
    check "per-user uninstall" in_root "$rroot" /root/.local/opt/latent-chat/uninstall.sh --silent
else
    step "no debootstrap/root: a throwaway prefix instead (the packages are not installed)"
    prefix="$work/prefix"
    for f in "$deb_cli" "$deb_app"; do dpkg-deb -x "$f" "$prefix"; done
    check "latent --version" "$prefix/usr/bin/latent" --version
    check "latent needs no Qt" bash -c "! readelf -d '$prefix/usr/bin/latent' '$prefix/usr/lib/latent-chat/liblatent-engine.so' | grep NEEDED | grep -q -i qt"
    check "latent make-model + info" bash -c "'$prefix/usr/bin/latent' make-model --shape tiny --type q8_0 --out '$work/tiny.gguf' && '$prefix/usr/bin/latent' info -m '$work/tiny.gguf' | grep -q deepseek2"
    check "latent-chat --version" "$prefix/usr/bin/latent-chat" --version
    make_v1_history "$work/data"
    check "latent-chat starts headless" env QT_QPA_PLATFORM=offscreen QT_QUICK_BACKEND=software timeout 120 "$prefix/usr/bin/latent-chat" \
        --data-dir "$work/data" --screenshot "$work/shot.png" --screenshot-delay 1000
    check "its history was migrated" history_ok "$work/data/latent.db"
    echo "SKIPPED: installing into a clean Debian root (needs root and debootstrap)"
fi

step "result"
if [ "$failures" -gt 0 ]; then echo "package test: $failures check(s) failed"; exit 1; fi
echo "package test: all checks passed"
