// GGUF reader and writer: round trips through the writer, split files, lazy metadata on a huge
// sparse file, and a table of malformed files that must each give a clean error naming the fault.
#include "core/error.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "test_support.h"

#include <QtTest>

#include <chrono>
#include <cstring>
#include <fstream>
#include <random>

using namespace latent;
using namespace latent::gguf;

namespace {

template <typename T>
void put(std::vector<uint8_t>& out, T v) {
    uint8_t b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    out.insert(out.end(), b, b + sizeof(T));
}
void put_str(std::vector<uint8_t>& out, std::string_view s) {
    put<uint64_t>(out, s.size());
    out.insert(out.end(), s.begin(), s.end());
}

// A GGUF image assembled field by field, so a test can make any field lie.
struct RawKv {
    std::string key;
    uint32_t type;
    std::vector<uint8_t> payload;
};
struct RawTensor {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type = 0;
    uint64_t offset = 0;
    std::optional<uint32_t> n_dims_override;
};
struct RawFile {
    uint32_t magic = 0x46554747u;
    uint32_t version = 3;
    std::optional<uint64_t> n_tensors_override, n_kv_override;
    std::vector<RawKv> kvs;
    std::vector<RawTensor> tensors;
    uint64_t alignment = 32;
    uint64_t data_bytes = 0; // zero bytes appended after the aligned header

    std::vector<uint8_t> bytes() const {
        std::vector<uint8_t> out;
        put<uint32_t>(out, magic);
        put<uint32_t>(out, version);
        put<uint64_t>(out, n_tensors_override.value_or(tensors.size()));
        put<uint64_t>(out, n_kv_override.value_or(kvs.size()));
        for (const RawKv& kv : kvs) {
            put_str(out, kv.key);
            put<uint32_t>(out, kv.type);
            out.insert(out.end(), kv.payload.begin(), kv.payload.end());
        }
        for (const RawTensor& t : tensors) {
            put_str(out, t.name);
            put<uint32_t>(out, t.n_dims_override.value_or(static_cast<uint32_t>(t.ne.size())));
            for (uint64_t n : t.ne) put<uint64_t>(out, n);
            put<uint32_t>(out, t.type);
            put<uint64_t>(out, t.offset);
        }
        out.resize((out.size() + alignment - 1) / alignment * alignment, 0);
        out.resize(out.size() + data_bytes, 0);
        return out;
    }
};

std::vector<uint8_t> u32_payload(uint32_t v) {
    std::vector<uint8_t> p;
    put<uint32_t>(p, v);
    return p;
}
std::vector<uint8_t> string_payload(std::string_view s) {
    std::vector<uint8_t> p;
    put_str(p, s);
    return p;
}

// A small valid file: two KVs and two F32 tensors of 16 and 8 elements.
RawFile valid_raw() {
    RawFile f;
    f.kvs.push_back({"general.architecture", 8, string_payload("deepseek2")});
    f.kvs.push_back({"test.count", 4, u32_payload(7)});
    f.tensors.push_back({"a.weight", {16}, 0, 0, {}});
    f.tensors.push_back({"b.weight", {4, 2}, 0, 64, {}});
    f.data_bytes = 96;
    return f;
}

void expect_error(const std::vector<uint8_t>& bytes, const QString& needle) {
    try {
        File::from_memory(bytes.data(), bytes.size(), "case.gguf");
    } catch (const latent::Error& e) {
        const QString msg = QString::fromStdString(e.what());
        if (!msg.contains(needle)) QFAIL(qPrintable("error message \"" + msg + "\" does not mention \"" + needle + "\""));
        if (!msg.startsWith("case.gguf")) QFAIL(qPrintable("error message does not name the file: " + msg));
        return;
    }
    QFAIL("malformed file was accepted");
}

std::vector<uint8_t> f32_bytes(const std::vector<float>& v) {
    std::vector<uint8_t> out(v.size() * 4);
    std::memcpy(out.data(), v.data(), out.size());
    return out;
}

} // namespace

class TestGguf : public QObject {
    Q_OBJECT

private slots:
    void round_trip_metadata() {
        Writer w;
        w.set_u8("k.u8", 200);
        w.set_i8("k.i8", -5);
        w.set_u16("k.u16", 65000);
        w.set_i16("k.i16", -30000);
        w.set_u32("k.u32", 4000000000u);
        w.set_i32("k.i32", -2000000000);
        w.set_u64("k.u64", 1ull << 60);
        w.set_i64("k.i64", -(1ll << 60));
        w.set_f32("k.f32", 0.0707f);
        w.set_f64("k.f64", 1.0 / 3.0);
        w.set_bool("k.bool", true);
        w.set_string("k.str", "héllo ｜ world");
        w.set_string("k.empty", "");
        w.set_string_array("k.strs", {"a", "", "Ġthe", "<｜User｜>"});
        w.set_i32_array("k.i32s", {1, -2, 3});
        w.set_f32_array("k.f32s", {0.5f, -1.25f});
        w.set_u32_array("k.u32s", {});
        w.set_u32("k.u32", 7); // replaces in place
        const std::vector<uint8_t> bytes = w.to_bytes();
        auto f = File::from_memory(bytes.data(), bytes.size(), "rt.gguf");
        QCOMPARE(f->version(), 3u);
        QCOMPARE(f->metadata().size(), size_t{17});
        QCOMPARE(f->metadata()[4].first, std::string("k.u32"));
        QCOMPARE(f->get_uint("k.u8"), uint64_t{200});
        QCOMPARE(f->get_int("k.i8"), int64_t{-5});
        QCOMPARE(f->get_u32("k.u16"), 65000u);
        QCOMPARE(f->get_int("k.i16"), int64_t{-30000});
        QCOMPARE(f->get_u32("k.u32"), 7u);
        QCOMPARE(f->get_int("k.i32"), int64_t{-2000000000});
        QCOMPARE(f->get_uint("k.u64"), uint64_t{1} << 60);
        QCOMPARE(f->get_int("k.i64"), -(int64_t{1} << 60));
        QCOMPARE(static_cast<float>(f->get_float("k.f32")), 0.0707f);
        QCOMPARE(f->get_float("k.f64"), 1.0 / 3.0);
        QCOMPARE(f->get_bool("k.bool"), true);
        QCOMPARE(std::string(f->get_string("k.str")), std::string("héllo ｜ world"));
        QCOMPARE(std::string(f->get_string("k.empty")), std::string());
        const auto strs = f->get_string_array("k.strs");
        QCOMPARE(strs.size(), size_t{4});
        QCOMPARE(std::string(strs[2]), std::string("Ġthe"));
        QCOMPARE(std::string(strs[3]), std::string("<｜User｜>"));
        QCOMPARE(f->get_int_array("k.i32s"), (std::vector<int64_t>{1, -2, 3}));
        QCOMPARE(f->get_float_array("k.f32s"), (std::vector<double>{0.5, -1.25}));
        QCOMPARE(f->get_array_size("k.u32s"), uint64_t{0});
        QCOMPARE(f->get_u32_or("k.absent", 9u), 9u);
        QCOMPARE(f->get_bool_or("k.absent", true), true);
        QVERIFY(!f->get_string_opt("k.absent").has_value());
        QCOMPARE(f->value_to_string(*f->find("k.strs"), 2), std::string("[string x 4] \"a\", \"\", ..."));
    }

    void accessor_errors_data() {
        QTest::addColumn<QString>("call");
        QTest::addColumn<QString>("needle");
        QTest::newRow("missing key") << "u32:k.absent" << "'k.absent' is missing";
        QTest::newRow("string as int") << "u32:k.str" << "'k.str' has type string, expected an unsigned integer";
        QTest::newRow("int as string") << "str:k.u32" << "'k.u32' has type uint32, expected string";
        QTest::newRow("negative as unsigned") << "u32:k.neg" << "'k.neg' is negative";
        QTest::newRow("u64 too big for u32") << "u32:k.big" << "does not fit in 32 bits";
        QTest::newRow("float as bool") << "bool:k.f32" << "expected bool";
        QTest::newRow("int as float") << "float:k.u32" << "expected a float";
        QTest::newRow("int array as strings") << "strs:k.ints" << "array of int32, expected array of string";
        QTest::newRow("string as array") << "ints:k.str" << "has type string, expected array of integers";
        QTest::newRow("wrong type with fallback") << "u32or:k.str" << "expected an unsigned integer";
    }
    void accessor_errors() {
        QFETCH(QString, call);
        QFETCH(QString, needle);
        Writer w;
        w.set_string("k.str", "x");
        w.set_u32("k.u32", 1);
        w.set_i32("k.neg", -1);
        w.set_u64("k.big", 1ull << 40);
        w.set_f32("k.f32", 1.0f);
        w.set_i32_array("k.ints", {1});
        const auto bytes = w.to_bytes();
        auto f = File::from_memory(bytes.data(), bytes.size(), "acc.gguf");
        const QStringList parts = call.split(':');
        const std::string key = parts[1].toStdString();
        try {
            if (parts[0] == "u32") f->get_u32(key);
            else if (parts[0] == "u32or") f->get_u32_or(key, 1);
            else if (parts[0] == "str") f->get_string(key);
            else if (parts[0] == "bool") f->get_bool(key);
            else if (parts[0] == "float") f->get_float(key);
            else if (parts[0] == "strs") f->get_string_array(key);
            else if (parts[0] == "ints") f->get_int_array(key);
            QFAIL("no error");
        } catch (const latent::Error& e) {
            const QString msg = QString::fromStdString(e.what());
            QVERIFY2(msg.contains(needle), qPrintable(msg));
            QVERIFY2(msg.contains("acc.gguf"), qPrintable(msg));
        }
    }

    void round_trip_tensors() {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        Writer w(64);
        std::vector<float> a(32);
        for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i) * 0.5f - 3.0f;
        w.add_tensor("a.weight", TensorType::F32, {8, 4}, f32_bytes(a));
        std::vector<uint8_t> q8(2 * 34, 0x11);
        w.add_tensor("q.weight", TensorType::Q8_0, {64}, q8);
        w.declare_tensor("streamed.weight", TensorType::F32, {3});
        const auto path = test::to_path(dir.filePath("t.gguf"));
        w.write_file(path, [](size_t index, std::vector<uint8_t>& out) {
            QCOMPARE(index, size_t{2});
            const std::vector<float> v{1.0f, 2.0f, 3.0f};
            out = f32_bytes(v);
        });
        auto f = File::open(path);
        QCOMPARE(f->alignment(), 64u);
        QCOMPARE(f->data_offset() % 64, uint64_t{0});
        QCOMPARE(f->tensors().size(), size_t{3});
        const TensorInfo* t = f->find_tensor("a.weight");
        QVERIFY(t);
        QCOMPARE(t->n_dims, 2u);
        QCOMPARE(t->ne[0], uint64_t{8});
        QCOMPARE(t->ne[1], uint64_t{4});
        QCOMPARE(t->size_bytes, uint64_t{128});
        QCOMPARE(t->shape_string(), std::string("{8, 4}"));
        QVERIFY(std::memcmp(t->data, a.data(), 128) == 0);
        const TensorInfo* q = f->find_tensor("q.weight");
        QCOMPARE(q->type, TensorType::Q8_0);
        QCOMPARE(q->size_bytes, uint64_t{68});
        QCOMPARE(q->offset % 64, uint64_t{0});
        QCOMPARE(q->data[0], uint8_t{0x11});
        const TensorInfo* s = f->find_tensor("streamed.weight");
        float got[3];
        std::memcpy(got, s->data, 12);
        QCOMPARE(got[2], 3.0f);
        QVERIFY(!f->find_tensor("nope"));
    }

    void version_2_is_read() {
        RawFile raw = valid_raw();
        raw.version = 2;
        const auto bytes = raw.bytes();
        auto f = File::from_memory(bytes.data(), bytes.size(), "v2.gguf");
        QCOMPARE(f->version(), 2u);
        QCOMPARE(f->tensors().size(), size_t{2});
    }

    void writer_refuses_bad_tensors() {
        Writer w;
        QVERIFY_THROWS_EXCEPTION(latent::Error, w.add_tensor("x", TensorType::F32, {4}, std::vector<uint8_t>(15)));
        QVERIFY_THROWS_EXCEPTION(latent::Error, w.declare_tensor("y", TensorType::Q4_K, {100}));
        QVERIFY_THROWS_EXCEPTION(latent::Error, w.declare_tensor("z", TensorType::F32, {}));
    }

    void split_files() {
        QTemporaryDir dir;
        const std::string prefix = dir.filePath("model").toStdString();
        for (uint32_t i = 1; i <= 3; ++i) {
            Writer w;
            if (i == 1) w.set_string("general.architecture", "deepseek2");
            w.set_u16("split.no", static_cast<uint16_t>(i - 1));
            w.set_u16("split.count", 3);
            w.set_i32("split.tensors.count", 3);
            w.add_tensor("t" + std::to_string(i), TensorType::F32, {2}, f32_bytes({static_cast<float>(i), 0.0f}));
            w.write_file(split_path(prefix, i, 3));
        }
        QCOMPARE(split_path(prefix, 2, 3).string(), prefix + "-00002-of-00003.gguf");
        for (uint32_t open_index : {1u, 2u}) {
            auto m = ModelFiles::open(split_path(prefix, open_index, 3));
            QCOMPARE(m->parts().size(), size_t{3});
            QCOMPARE(std::string(m->main().get_string("general.architecture")), std::string("deepseek2"));
            QCOMPARE(m->tensors().size(), size_t{3});
            const TensorInfo* t3 = m->find_tensor("t3");
            QVERIFY(t3);
            QCOMPARE(t3->file_index, 2u);
            float v;
            std::memcpy(&v, t3->data, 4);
            QCOMPARE(v, 3.0f);
        }
        // A missing part is named.
        std::filesystem::remove(split_path(prefix, 3, 3));
        try {
            ModelFiles::open(split_path(prefix, 1, 3));
            QFAIL("missing part accepted");
        } catch (const latent::Error& e) {
            QVERIFY2(QString(e.what()).contains("model-00003-of-00003.gguf"), e.what());
        }
    }

    void split_file_inconsistencies() {
        QTemporaryDir dir;
        const std::string prefix = dir.filePath("m").toStdString();
        auto write_part = [&](uint32_t i, uint16_t count, uint16_t no, const std::string& tensor) {
            Writer w;
            w.set_u16("split.no", no);
            w.set_u16("split.count", count);
            w.add_tensor(tensor, TensorType::F32, {1}, f32_bytes({1.0f}));
            w.write_file(split_path(prefix, i, 2));
        };
        write_part(1, 2, 0, "x");
        write_part(2, 2, 0, "y"); // wrong split.no
        QVERIFY_THROWS_EXCEPTION(latent::Error, ModelFiles::open(split_path(prefix, 1, 2)));
        write_part(2, 2, 1, "x"); // duplicate tensor across parts
        try {
            ModelFiles::open(split_path(prefix, 1, 2));
            QFAIL("duplicate accepted");
        } catch (const latent::Error& e) {
            QVERIFY2(QString(e.what()).contains("tensor 'x' also appears"), e.what());
        }
        // split.count > 1 in a file whose name is not a split name.
        Writer w;
        w.set_u16("split.count", 2);
        const auto odd = test::to_path(dir.filePath("odd.gguf"));
        w.write_file(odd);
        QVERIFY_THROWS_EXCEPTION(latent::Error, ModelFiles::open(odd));
        QVERIFY(!parse_split_name("a-00000-of-00002.gguf"));
        QVERIFY(!parse_split_name("a-00003-of-00002.gguf"));
        QVERIFY(!parse_split_name("a-0001-of-00002.gguf"));
    }

    // Opening reads only the header: a 10 GB file (sparse on disk) with a 100k-entry vocabulary
    // opens in milliseconds.
    void huge_file_opens_lazily() {
        QTemporaryDir dir;
        const auto path = test::to_path(dir.filePath("huge.gguf"));
        Writer w;
        std::vector<std::string> vocab(100000);
        for (size_t i = 0; i < vocab.size(); ++i) vocab[i] = "tok" + std::to_string(i);
        w.set_string_array("tokenizer.ggml.tokens", vocab);
        const uint64_t rows = 10ull * 1024 * 1024 * 1024 / (4096 * 4);
        w.declare_tensor("big.weight", TensorType::F32, {4096, rows});
        const std::vector<uint8_t> header = w.header_bytes();
        {
            std::ofstream out(path, std::ios::binary);
            out.write(reinterpret_cast<const char*>(header.data()), static_cast<std::streamsize>(header.size()));
        }
        std::filesystem::resize_file(path, header.size() + w.tensors()[0].size_bytes); // sparse
        const auto start = std::chrono::steady_clock::now();
        auto f = File::open(path);
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        QCOMPARE(f->file_size(), uint64_t{10} * 1024 * 1024 * 1024 + header.size());
        QCOMPARE(f->get_array_size("tokenizer.ggml.tokens"), uint64_t{100000});
        QCOMPARE(f->find_tensor("big.weight")->size_bytes, uint64_t{10} * 1024 * 1024 * 1024);
        qInfo("opened a 10 GiB GGUF (header %zu bytes) in %.2f ms", header.size(), ms);
        // Generous bound: this is a check that no data is read, not a benchmark.
        QVERIFY2(ms < 500.0, qPrintable(QString::number(ms)));
    }

    // ---- Malformed files: each must give a clean error that names the fault ------------------
    void malformed_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("needle");
        auto row = [](const char* name, const RawFile& f, const char* needle) {
            const auto b = f.bytes();
            QTest::newRow(name) << QByteArray(reinterpret_cast<const char*>(b.data()), static_cast<qsizetype>(b.size())) << QString(needle);
        };
        auto raw_row = [](const char* name, std::vector<uint8_t> b, const char* needle) {
            QTest::newRow(name) << QByteArray(reinterpret_cast<const char*>(b.data()), static_cast<qsizetype>(b.size())) << QString(needle);
        };
        const RawFile base = valid_raw();
        const std::vector<uint8_t> good = base.bytes();

        raw_row("empty file", {}, "not a GGUF file");
        raw_row("three bytes", {'G', 'G', 'U'}, "not a GGUF file");
        { RawFile f = base; f.magic = 0x4c4c5547; row("bad magic", f, "magic is 'GUL"); }
        { RawFile f = base; f.version = 1; row("version 1", f, "version 1 is not supported"); }
        { RawFile f = base; f.version = 4; row("version 4", f, "unsupported GGUF version 4"); }
        { RawFile f = base; f.version = 0x03000000; row("big-endian", f, "big-endian"); }
        { RawFile f = base; f.version = 0; row("version 0", f, "unsupported GGUF version 0"); }
        { RawFile f = base; f.n_kv_override = 1ull << 62; row("huge metadata count", f, "metadata count"); }
        { RawFile f = base; f.n_tensors_override = ~0ull; row("huge tensor count", f, "tensor count"); }
        { RawFile f = base; f.n_kv_override = 5; row("metadata count larger than entries", f, "metadata entry"); }
        { RawFile f = base; f.n_tensors_override = 3; row("tensor count larger than records", f, "tensor 2"); }
        { RawFile f = base; f.kvs.push_back({"test.count", 4, u32_payload(1)}); row("duplicate key", f, "duplicate metadata key 'test.count'"); }
        { RawFile f = base; f.kvs.push_back({"x.bad", 13, u32_payload(1)}); row("invalid value type", f, "'x.bad' has invalid value type 13"); }
        { RawFile f = base; std::vector<uint8_t> p; put<uint32_t>(p, 9); put<uint64_t>(p, 1); f.kvs.push_back({"x.nested", 9, p}); row("nested array", f, "nested array"); }
        { RawFile f = base; std::vector<uint8_t> p; put<uint32_t>(p, 77); put<uint64_t>(p, 0); f.kvs.push_back({"x.arr", 9, p}); row("bad array element type", f, "invalid array element type 77"); }
        { RawFile f = base; std::vector<uint8_t> p; put<uint32_t>(p, 4); put<uint64_t>(p, 1ull << 61); f.kvs.push_back({"x.arr", 9, p}); row("huge u32 array", f, "'x.arr' claims"); }
        { RawFile f = base; std::vector<uint8_t> p; put<uint32_t>(p, 10); put<uint64_t>(p, 1ull << 61); f.kvs.push_back({"x.arr", 9, p}); row("u64 array size overflow", f, "'x.arr' claims"); }
        { RawFile f = base; std::vector<uint8_t> p; put<uint32_t>(p, 8); put<uint64_t>(p, 1ull << 40); f.kvs.push_back({"x.strs", 9, p}); row("huge string array", f, "strings, more than the file can hold"); }
        { RawFile f = base; std::vector<uint8_t> p; put<uint32_t>(p, 8); put<uint64_t>(p, 2); put_str(p, "ok"); put<uint64_t>(p, 1ull << 50); f.kvs.push_back({"x.strs", 9, p}); row("string array element too long", f, "x.strs' element 1 claims"); }
        { RawFile f = base; std::vector<uint8_t> p; put<uint64_t>(p, 1ull << 50); f.kvs.push_back({"x.s", 8, p}); row("string value too long", f, "'x.s' value claims"); }
        { RawFile f = base; std::vector<uint8_t> p; put<uint64_t>(p, ~0ull); f.kvs.push_back({"x.s2", 8, p}); row("string length near 2^64", f, "beyond the end of the file"); }
        { RawFile f = base; f.kvs.push_back({"general.alignment", 4, u32_payload(48)}); row("alignment not a power of two", f, "general.alignment 48 is not a power of two"); }
        { RawFile f = base; f.kvs.push_back({"general.alignment", 4, u32_payload(0)}); row("alignment zero", f, "general.alignment 0"); }
        { RawFile f = base; f.kvs.push_back({"general.alignment", 8, string_payload("32")}); row("alignment wrong type", f, "'general.alignment' has type string"); }
        { RawFile f = base; f.tensors[0].name = ""; row("empty tensor name", f, "tensor 0 has an empty name"); }
        { RawFile f = base; f.tensors[0].name = std::string(100, 'n'); row("tensor name too long", f, "is 100 bytes long"); }
        { RawFile f = base; f.tensors[1].name = "a.weight"; row("duplicate tensor", f, "duplicate tensor 'a.weight'"); }
        { RawFile f = base; f.tensors[0].ne = {}; row("zero dimensions", f, "'a.weight' has 0 dimensions"); }
        { RawFile f = base; f.tensors[0].ne = {1, 1, 1, 1, 16}; row("five dimensions", f, "'a.weight' has 5 dimensions"); }
        { RawFile f = base; f.tensors[1].ne = {4, 0}; row("zero-sized dimension", f, "'b.weight' has invalid dimension 1 = 0"); }
        { RawFile f = base; f.tensors[1].ne = {4, 1ull << 63}; row("dimension above int64", f, "invalid dimension 1"); }
        { RawFile f = base; f.tensors[1].ne = {1ull << 32, 1ull << 32}; row("element count overflow", f, "element count overflows"); }
        { RawFile f = base; f.tensors[1].ne = {1ull << 30, 1ull << 30}; row("data beyond file (huge)", f, "extends beyond the end of the file"); }
        { RawFile f = base; f.tensors[0].type = 4; row("retired type id", f, "'a.weight' has unknown type id 4"); }
        { RawFile f = base; f.tensors[0].type = 99; row("unknown type id", f, "unknown type id 99"); }
        { RawFile f = base; f.tensors[0].type = 12; f.tensors[0].ne = {100}; row("ne0 not a block multiple", f, "not a multiple of the block size 256"); }
        { RawFile f = base; f.tensors[1].offset = 65; row("offset not aligned", f, "is not a multiple of the alignment 32"); }
        { RawFile f = base; f.tensors[1].offset = 4096; row("offset beyond file", f, "'b.weight' data (32 bytes at data offset 4096) extends beyond"); }
        { RawFile f = base; f.tensors[1].offset = ~0ull - 31; row("offset overflow", f, "extends beyond the end"); }
        { RawFile f = base; f.tensors[1].offset = 32; row("overlapping tensors", f, "tensor 'a.weight' and tensor 'b.weight' overlap"); }
        { RawFile f = base; f.data_bytes = 90; row("last tensor cut short", f, "'b.weight' data"); }
        { RawFile f = base; f.tensors[0].n_dims_override = 2; row("dims count lies", f, "'a.weight'"); }
        raw_row("cut inside tensor table", std::vector<uint8_t>(good.begin(), good.begin() + 160), "truncated file");
        raw_row("cut inside metadata", std::vector<uint8_t>(good.begin(), good.begin() + 60), "tensor count 2 is impossible for a file of 60 bytes");
    }
    void malformed() {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, needle);
        expect_error(std::vector<uint8_t>(bytes.begin(), bytes.end()), needle);
    }

    // Every prefix of a valid file that drops part of a tensor's data or header fails cleanly.
    void truncation_at_every_byte() {
        const std::vector<uint8_t> good = valid_raw().bytes();
        auto full = File::from_memory(good.data(), good.size(), "full.gguf");
        const uint64_t needed = full->data_offset() + 64 + 32; // end of b.weight
        for (uint64_t cut = 0; cut < needed; ++cut) {
            std::vector<uint8_t> part(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut));
            try {
                File::from_memory(part.data(), part.size(), "cut.gguf");
                QFAIL(qPrintable(QString("prefix of %1 bytes was accepted").arg(cut)));
            } catch (const latent::Error&) {
            }
        }
    }

    // Random byte corruption never crashes: each file either opens or gives latent::Error.
    void random_corruption_never_crashes() {
        Writer w;
        w.set_string("general.architecture", "deepseek2");
        w.set_string_array("tokenizer.ggml.tokens", {"a", "b", "ab"});
        w.set_i32_array("tokenizer.ggml.token_type", {1, 1, 1});
        w.add_tensor("x.weight", TensorType::F32, {8}, std::vector<uint8_t>(32, 0));
        w.add_tensor("y.weight", TensorType::Q8_0, {32, 2}, std::vector<uint8_t>(68, 0));
        const std::vector<uint8_t> good = w.to_bytes();
        std::mt19937 rng(12345);
        int opened = 0, rejected = 0;
        for (int iteration = 0; iteration < 3000; ++iteration) {
            std::vector<uint8_t> bytes = good;
            const int flips = 1 + static_cast<int>(rng() % 4);
            for (int k = 0; k < flips; ++k) bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
            try {
                auto f = File::from_memory(bytes.data(), bytes.size(), "fuzz.gguf");
                for (const auto& kv : f->metadata()) (void)f->value_to_string(kv.second);
                ++opened;
            } catch (const latent::Error&) {
                ++rejected;
            }
        }
        qInfo("random corruption: %d opened, %d rejected cleanly", opened, rejected);
        QVERIFY(rejected > 0);
    }
};

QTEST_APPLESS_MAIN(TestGguf)
#include "test_gguf.moc"
