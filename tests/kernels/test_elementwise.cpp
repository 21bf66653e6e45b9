// Element-wise kernels against plain loops: residual add over a grid of sizes (including ones
// that are not a multiple of 4 and unaligned views, which take the scalar path).
#include "elementwise.h"
#include "gpu_test.h"

#include <QTest>

using namespace latent;

class TestElementwise : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { LATENT_REQUIRE_GPU(); }

    void residual_add_data() {
        QTest::addColumn<int>("n");
        QTest::addColumn<int>("offset"); // elements: a non-zero offset breaks 16-byte alignment
        for (int n : {1, 3, 4, 17, 256, 1000, 2048, 5003}) {
            for (int offset : {0, 1}) QTest::addRow("n%d_offset%d", n, offset) << n << offset;
        }
        if (test::gpu_big_grids()) QTest::addRow("n7168_big") << 7168 * 64 << 0;
    }

    void residual_add() {
        QFETCH(int, n);
        QFETCH(int, offset);
        test::Random random(static_cast<uint32_t>(n * 7 + offset));
        const auto a = test::random_floats(random, n + offset);
        const auto b = test::random_floats(random, n + offset);
        std::vector<float> expected(n);
        for (int i = 0; i < n; ++i) expected[i] = a[i + offset] + b[i + offset];

        const gpu::Buffer da = gpu::upload(a), db = gpu::upload(b);
        gpu::Buffer out = test::poisoned_buffer<float>(n + offset);
        kernels::residual_add(out.as<float>() + offset, da.as<float>() + offset, db.as<float>() + offset, n);
        auto got = gpu::download<float>(out);
        got.erase(got.begin(), got.begin() + offset);
        LATENT_COMPARE_FLOATS(got, expected, 0.0); // one float add: exact

        // In place: out aliases a.
        kernels::residual_add(da.as<float>() + offset, da.as<float>() + offset, db.as<float>() + offset, n);
        auto in_place = gpu::download<float>(da);
        in_place.erase(in_place.begin(), in_place.begin() + offset);
        LATENT_COMPARE_FLOATS(in_place, expected, 0.0);
    }
};

QTEST_GUILESS_MAIN(TestElementwise)
#include "test_elementwise.moc"
