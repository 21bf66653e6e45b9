#!/usr/bin/env bash
# Makes the self-contained installer, BUILD_DIR/packages/latent-chat-<version>-x86_64.run, from a
# packaging build (scripts/build-packages.sh): the app and the CLI with the Qt libraries, Qt
# plugins and QML modules they load and every library those need except the base system's
# (glibc, libstdc++, the GL/X11/fontconfig stack the display's drivers provide: run/system-libs),
# all found through RUNPATH $ORIGIN (patchelf) and qt.conf, so it starts where no Qt is installed.
#   installer/make-run.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: make-run.sh BUILD_DIR}" && pwd)
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
arch=$(uname -m)
name="latent-chat-$version-$arch"
work="$build/run-stage"
tree="$work/$name"
qt_libdir=$(dirname "$(ldd "$build/bin/latent-chat" | awk '/libQt6Core.so/ {print $3}')")
qt_root="$qt_libdir/qt6"
for tool in patchelf xz sha256sum; do
    command -v "$tool" >/dev/null || { echo "make-run.sh: $tool is needed (scripts/setup-debian.sh installs it)" >&2; exit 1; }
done

rm -rf "$work"
mkdir -p "$work"
# DESTDIR keeps the /etc conffile of the app component inside the stage (it is not shipped here).
for component in app cli; do
    DESTDIR="$work/destdir" cmake --install "$build" --prefix /app --component "$component" --strip >/dev/null
done
mv "$work/destdir/app" "$tree"
rm -rf "$work/destdir"

# Qt plugins and QML modules the app loads at run time (no ELF dependency names them).
# Platforms: X11, Wayland, offscreen, minimal (not the embedded ones: eglfs, linuxfb, vnc).
plugin_dirs=(xcbglintegrations platforminputcontexts imageformats iconengines wayland-shell-integration
             wayland-decoration-client wayland-graphics-integration-client)
mkdir -p "$tree/lib/qt6/plugins/platforms" "$tree/lib/qt6/qml"
for dir in "${plugin_dirs[@]}"; do
    if [ -d "$qt_root/plugins/$dir" ]; then cp -a "$qt_root/plugins/$dir" "$tree/lib/qt6/plugins/"; fi
done
for platform in libqxcb.so libqoffscreen.so libqminimal.so libqwayland-generic.so libqwayland-egl.so; do
    if [ -f "$qt_root/plugins/platforms/$platform" ]; then cp -a "$qt_root/plugins/platforms/$platform" "$tree/lib/qt6/plugins/platforms/"; fi
done
for module in QtQuick QtQml QtCore Qt/labs/folderlistmodel; do
    mkdir -p "$tree/lib/qt6/qml/$(dirname "$module")"
    cp -a "$qt_root/qml/$module" "$tree/lib/qt6/qml/$module"
done
rm -rf "$tree/lib/qt6/qml/QtQuick/VirtualKeyboard" "$tree/lib/qt6/qml/QtTest" # not used
cat > "$tree/bin/qt.conf" <<'CONF'
[Paths]
Prefix=..
Plugins=lib/qt6/plugins
QmlImports=lib/qt6/qml
Qml2Imports=lib/qt6/qml
CONF

# Every ELF file's libraries, recursively, except the base system's.
is_system_lib() { grep -qxF "$1" "$here/run/system-libs"; }
mapfile -t elves < <(find "$tree/bin" "$tree/lib" -type f \( -name '*.so*' -o -perm -u+x \) -exec sh -c 'head -c4 "$1" | grep -q ELF' _ {} \; -print)
declare -A bundled=()
queue=("${elves[@]}")
while [ "${#queue[@]}" -gt 0 ]; do
    file=${queue[0]}
    queue=("${queue[@]:1}")
    while read -r lib path; do
        [ -n "$path" ] && [ -f "$path" ] || continue
        case "$(realpath "$path")" in "$tree"/*) continue ;; esac # ours: the engine in lib/latent-chat
        is_system_lib "$lib" && continue
        [ -n "${bundled[$lib]:-}" ] && continue
        bundled[$lib]=1
        cp -L "$path" "$tree/lib/$lib"
        chmod 0644 "$tree/lib/$lib"
        queue+=("$tree/lib/$lib")
    done < <(ldd "$file" 2>/dev/null | awk '/=> \// {print $1, $3}')
done

# RUNPATH: each ELF file finds lib/ (Qt and the other bundled libraries) and lib/latent-chat (the
# engine library, as in the packages) relative to itself.
while read -r file; do
    head -c4 "$file" | grep -q ELF || continue
    rel=$(realpath --relative-to="$(dirname "$file")" "$tree/lib")
    patchelf --set-rpath "\$ORIGIN/$rel:\$ORIGIN/$rel/latent-chat" "$file"
done < <(find "$tree/bin" "$tree/lib" -type f)
# No GPU support in the .run (NVIDIA's cuBLAS alone is several hundred MB): latent and
# latent-chat say "GPU support is not installed" and run on the CPU (docs/deployment.md).
rm -f "$tree/lib/latent-chat/liblatent-cuda.so"; rm -rf "$tree/lib/latent-chat/cuda"

printf '%s\n' "${!bundled[@]}" | sort > "$tree/share/doc/latent-chat/bundled-libraries.txt"
cp "$here/run/install.sh" "$here/run/uninstall.sh" "$tree/"
chmod 0755 "$tree/install.sh" "$tree/uninstall.sh"
echo "$version" > "$tree/VERSION"

# The .run: a shell header, then the tree as tar.xz (run/header.sh explains).
payload="$work/payload.tar.xz"
tar -C "$work" --owner=0 --group=0 --numeric-owner -cf - "$name" | xz -T2 -6 > "$payload"
out="$build/packages/$name.run"
mkdir -p "$build/packages"
sed -e "s/@VERSION@/$version/" -e "s/@DIRNAME@/$name/" -e "s/@SHA256@/$(sha256sum "$payload" | cut -d' ' -f1)/" \
    "$here/run/header.sh" > "$out"
cat "$payload" >> "$out"
chmod 0755 "$out"
echo "made $out ($(du -h "$out" | cut -f1); ${#bundled[@]} bundled libraries)"
