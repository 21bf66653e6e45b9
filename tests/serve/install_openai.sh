#!/bin/sh
# Installs the official openai npm package (6.49.0: the last line for Node 20; 7.x wants Node
# 22) into $1 for serve.openai_node. Exit 77 (CTest: skipped) with the reason when npm or the
# registry is unavailable.
set -u
dir="$1"
version=6.49.0
if [ -f "$dir/node_modules/openai/package.json" ] && grep -q "\"version\": \"$version\"" "$dir/node_modules/openai/package.json"; then
    echo "openai@$version already installed in $dir"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "SKIP: npm/node not found (Debian: apt-get install nodejs npm); the openai client test cannot run"
    exit 77
fi
mkdir -p "$dir"
if ! npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "openai@$version"; then
    echo "SKIP: 'npm install openai@$version' failed (no access to the npm registry?)"
    exit 77
fi
echo "installed openai@$version into $dir"
