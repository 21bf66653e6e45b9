// serve.openai_node: the official `openai` npm client (6.49.0) against a real `latent serve`
// with a generated model. Run by run_openai_client.sh (NODE_PATH names the install folder);
// LATENT_CLI is the `latent` binary. Exits 0 when every check passes, 1 with the failures.
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const require = createRequire(path.join(path.resolve(process.env.NODE_PATH), "x.js"));
const OpenAI = require('openai').default ?? require('openai');
const cli = process.env.LATENT_CLI;
const dir = mkdtempSync(path.join(tmpdir(), 'latent-openai-'));
const model = path.join(dir, 'tiny.gguf');
execFileSync(cli, ['make-model', '--shape', 'tiny', '--type', 'q8_0', '--out', model], { stdio: 'ignore' });

const key = 'sk-openai-node-test';
const server = spawn(cli, ['serve', '-m', model, '--port', '0', '--api-key', key, '--parallel', '4', '--ctx', '1024', '--threads', '2', '--alias', 'tiny'],
                     { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (d) => {
        out += d;
        const m = out.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
        if (m) resolve(Number(m[1]));
    });
    server.on('exit', (code) => reject(new Error(`latent serve exited with ${code}: ${out}`)));
    setTimeout(() => reject(new Error('latent serve did not start')), 60000).unref();
});

const client = new OpenAI({ apiKey: key, baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0, timeout: 60000 });
const failures = [];
let checks = 0;
function check(ok, what) {
    checks += 1;
    if (!ok) failures.push(what);
}
const ask = (content, extra = {}) => ({ model: 'tiny', messages: [{ role: 'user', content }], max_tokens: 24, temperature: 0, ...extra });

async function streamText(params, onFirst) {
    const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage = null;
    let finish = null;
    for await (const chunk of stream) {
        if (chunk.usage) usage = chunk.usage;
        for (const choice of chunk.choices) {
            text += choice.delta?.content ?? '';
            if (choice.finish_reason) finish = choice.finish_reason;
            if (onFirst && choice.delta?.content) {
                onFirst(stream);
                onFirst = null;
            }
        }
    }
    return { text, usage, finish };
}

try {
    const models = await client.models.list();
    check(models.data.some((m) => m.id === 'tiny'), 'models.list names the model');

    const full = await client.chat.completions.create(ask('Hello there, model.'));
    const content = full.choices[0].message.content;
    check(typeof content === 'string' && content.length > 0, 'non-streaming chat has content');
    check(full.usage.completion_tokens >= 1 && full.usage.completion_tokens <= 24, 'completion_tokens within max_tokens');
    check(full.usage.total_tokens === full.usage.prompt_tokens + full.usage.completion_tokens, 'total_tokens adds up');

    const streamed = await streamText(ask('Hello there, model.'));
    check(streamed.text === content, `streamed text equals the non-streamed text (${JSON.stringify(streamed.text)} vs ${JSON.stringify(content)})`);
    check(streamed.usage && streamed.usage.prompt_tokens === full.usage.prompt_tokens && streamed.usage.completion_tokens === full.usage.completion_tokens,
          'include_usage reports the same usage');
    check(streamed.finish === full.choices[0].finish_reason, 'same finish_reason');

    if (content.length >= 8) {
        const stop = content.slice(Math.floor(content.length / 2), Math.floor(content.length / 2) + 2);
        const cut = await client.chat.completions.create(ask('Hello there, model.', { stop: [stop] }));
        check(cut.choices[0].message.content === content.slice(0, content.indexOf(stop)) && cut.choices[0].finish_reason === 'stop', 'stop string cuts the answer');
    }

    const sampled = (seed) => client.chat.completions.create(ask('Pick words.', { temperature: 1, top_p: 1, seed, max_completion_tokens: 16 }));
    const [a, b] = [await sampled(7), await sampled(7)];
    check(a.choices[0].message.content === b.choices[0].message.content, 'the same seed gives the same text');

    const completion = await client.completions.create({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 5, temperature: 0, ignore_eos: true });
    check(completion.choices[0].text.length > 0 && completion.usage.completion_tokens === 5, 'completions with ignore_eos give 5 tokens');

    const questions = ['One?', 'Two, longer?', 'Three three three.', 'Four.'];
    const alone = [];
    for (const q of questions) alone.push((await streamText(ask(q))).text);
    const together = await Promise.all(questions.map((q) => streamText(ask(q))));
    check(together.every((t, i) => t.text === alone[i]), '4 concurrent streams equal the same requests one by one');

    // Abort mid-stream, then the server still answers.
    const aborted = await streamText(ask('Go on and on.', { max_tokens: 500, ignore_eos: true }), (s) => s.controller.abort()).catch((e) => ({ error: e }));
    check(aborted.error !== undefined || (aborted.usage === null), 'abort ends the stream');
    const after = await client.chat.completions.create(ask('Still there?', { max_tokens: 2 }));
    check(after.choices.length === 1, 'the server answers after an aborted stream');

    const wrongKey = new OpenAI({ apiKey: 'sk-wrong', baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });
    const unauthorized = await wrongKey.models.list().catch((e) => e);
    check(unauthorized instanceof OpenAI.AuthenticationError && unauthorized.status === 401, 'a wrong key is a 401 AuthenticationError');
    const badTemp = await client.chat.completions.create(ask('x', { temperature: 5 })).catch((e) => e);
    check(badTemp instanceof OpenAI.BadRequestError && /temperature/.test(badTemp.message), 'temperature 5 is a 400 naming temperature');
    const badRole = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'wizard', content: 'x' }] }).catch((e) => e);
    check(badRole instanceof OpenAI.BadRequestError && /wizard/.test(badRole.message), 'an unknown role is a 400 naming it');
    const n2 = await client.chat.completions.create(ask('x', { n: 2 })).catch((e) => e);
    check(n2 instanceof OpenAI.BadRequestError, 'n = 2 is refused');
} catch (e) {
    failures.push(`unexpected error: ${e.stack ?? e}`);
} finally {
    server.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
}

if (failures.length) {
    console.log(`FAIL: ${failures.length} of ${checks} checks:\n  ${failures.join('\n  ')}`);
    process.exit(1);
}
const version = JSON.parse(readFileSync(path.join(path.resolve(process.env.NODE_PATH), 'openai', 'package.json'), 'utf8')).version;
console.log(`PASS: ${checks} checks with openai@${version} on Node ${process.version}`);
