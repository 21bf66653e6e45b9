#include "tokenizer/special_tokens.h"

#include <algorithm>
#include <list>
#include <tuple>

namespace latent::tokenizer {

void SpecialTokenMatcher::add(int32_t id, std::string_view text, bool always) {
    if (text.empty()) return;
    int32_t node = 0;
    for (const char c : text) {
        const uint64_t key = (static_cast<uint64_t>(node) << 8) | static_cast<uint8_t>(c);
        auto it = edges_.find(key);
        if (it == edges_.end()) {
            Node next;
            next.depth = nodes_[static_cast<size_t>(node)].depth + 1;
            nodes_.push_back(std::move(next));
            it = edges_.emplace(key, static_cast<int32_t>(nodes_.size() - 1)).first;
        }
        node = it->second;
    }
    auto& ids = always ? nodes_[static_cast<size_t>(node)].always : nodes_[static_cast<size_t>(node)].on_request;
    ids.insert(std::upper_bound(ids.begin(), ids.end(), id), id);
}

int32_t SpecialTokenMatcher::child(int32_t node, uint8_t byte) const {
    const auto it = edges_.find((static_cast<uint64_t>(node) << 8) | byte);
    return it == edges_.end() ? -1 : it->second;
}

std::vector<SpecialTokenMatcher::Fragment> SpecialTokenMatcher::partition(std::string_view text, bool parse_special) const {
    std::vector<Fragment> occurrences;
    if (!empty()) {
        for (size_t start = 0; start < text.size(); ++start) {
            int32_t node = 0;
            for (size_t pos = start; pos < text.size(); ++pos) {
                node = child(node, static_cast<uint8_t>(text[pos]));
                if (node < 0) break;
                const Node& n = nodes_[static_cast<size_t>(node)];
                // Of several tokens with one text, the lowest id comes first in the reference
                // order and claims every occurrence; the others can never match.
                int32_t id = n.always.empty() ? -1 : n.always.front();
                if (parse_special && !n.on_request.empty() && (id < 0 || n.on_request.front() < id)) id = n.on_request.front();
                if (id >= 0) occurrences.push_back({start, pos + 1, id});
            }
        }
    }

    std::sort(occurrences.begin(), occurrences.end(), [](const Fragment& a, const Fragment& b) {
        const size_t length_a = a.end - a.begin;
        const size_t length_b = b.end - b.begin;
        if (length_a != length_b) return length_a > length_b;
        return std::tie(a.token, a.begin) < std::tie(b.token, b.begin);
    });
    std::vector<bool> claimed(occurrences.empty() ? 0 : text.size(), false);
    std::vector<Fragment> accepted;
    for (const Fragment& occurrence : occurrences) {
        const auto first = claimed.begin() + static_cast<std::ptrdiff_t>(occurrence.begin);
        const auto last = claimed.begin() + static_cast<std::ptrdiff_t>(occurrence.end);
        if (std::find(first, last, true) != last) continue;
        std::fill(first, last, true);
        accepted.push_back(occurrence);
    }
    std::sort(accepted.begin(), accepted.end(), [](const Fragment& a, const Fragment& b) { return a.begin < b.begin; });

    std::vector<Fragment> fragments;
    fragments.reserve(accepted.size() * 2 + 1);
    size_t cursor = 0;
    for (const Fragment& token : accepted) {
        if (token.begin > cursor) fragments.push_back({cursor, token.begin, -1});
        fragments.push_back(token);
        cursor = token.end;
    }
    if (cursor < text.size()) fragments.push_back({cursor, text.size(), -1});
    return fragments;
}

std::vector<SpecialTokenMatcher::Fragment> partition_reference(
    std::string_view text, const std::vector<std::pair<int32_t, std::string>>& specials) {
    using Fragment = SpecialTokenMatcher::Fragment;
    std::vector<std::pair<int32_t, std::string>> order = specials;
    std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
        return a.second.size() != b.second.size() ? a.second.size() > b.second.size() : a.first < b.first;
    });
    std::list<Fragment> fragments;
    if (!text.empty()) fragments.push_back({0, text.size(), -1});
    for (const auto& [id, special] : order) {
        if (special.empty()) continue;
        for (auto it = fragments.begin(); it != fragments.end(); ++it) {
            if (it->token >= 0) continue;
            const size_t found = text.substr(it->begin, it->end - it->begin).find(special);
            if (found == std::string_view::npos) continue;
            const size_t match_begin = it->begin + found;
            const size_t match_end = match_begin + special.size();
            const size_t raw_end = it->end;
            // Split into [begin, match) [token] [match_end, end); the loop continues with the
            // right remainder.
            if (match_begin > it->begin) fragments.insert(it, Fragment{it->begin, match_begin, -1});
            *it = Fragment{match_begin, match_end, id};
            if (match_end < raw_end) {
                it = fragments.insert(std::next(it), Fragment{match_end, raw_end, -1});
                --it; // back to the token; the loop's ++it visits the remainder next
            }
        }
    }
    return {fragments.begin(), fragments.end()};
}

} // namespace latent::tokenizer
