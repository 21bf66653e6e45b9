#!/bin/sh
# Runs openai_client.mjs ($2) with the openai package installed in $1; exit 77 (skipped) when
# it is not there (serve.openai_npm skipped).
set -u
if [ ! -f "$1/node_modules/openai/package.json" ]; then
    echo "SKIP: the openai npm package is not installed in $1 (see serve.openai_npm)"
    exit 77
fi
if ! command -v node >/dev/null 2>&1; then
    echo "SKIP: node not found"
    exit 77
fi
NODE_PATH="$1/node_modules" exec node "$2"
