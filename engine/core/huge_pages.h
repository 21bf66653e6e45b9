// Transparent huge pages for large scratch buffers (activations of a prompt batch, attention
// scratch). A fresh buffer's pages are faulted in on first touch, one fault per 4 KiB page; on
// machines whose kernel gives huge pages only on request (transparent_hugepage=madvise, the
// default of many distributions) and under hypervisors where every fault traps, that made the
// first prompt after loading a model markedly slower than later ones. Asking for huge pages
// before the first touch makes it one fault per 2 MiB.
#pragma once

#include <cstddef>
#include <vector>

namespace latent {

// Buffers below this get no advice (the huge page would be mostly unused).
inline constexpr size_t kHugePageScratchBytes = size_t{4} << 20;

// madvise(MADV_HUGEPAGE) on the 2 MiB-aligned part of [data, data + bytes) when bytes is at least
// kHugePageScratchBytes; a no-op elsewhere, and where the system has no transparent huge pages.
void advise_huge_pages(void* data, size_t bytes);

// v.resize(n), asking for huge pages before a growth of a large buffer touches its new memory.
// Elements kept from before are copied as resize would; new ones are value-initialised.
template <class T>
void resize_scratch(std::vector<T>& v, size_t n) {
    if (n > v.capacity() && n * sizeof(T) >= kHugePageScratchBytes) {
        std::vector<T> grown;
        grown.reserve(n);
        advise_huge_pages(grown.data(), n * sizeof(T));
        grown.assign(v.begin(), v.end());
        v.swap(grown);
    }
    v.resize(n);
}

} // namespace latent
