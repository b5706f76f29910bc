#include "tokenizer/bpe.h"

#include <algorithm>
#include <bit>
#include <mutex>

#include "tokenizer/json_fields.h"
#include "tokenizer/utf8.h"
#include "util/error.h"

namespace dseek {
namespace {

using json_fields::Json;

// Hugging Face's BPE cache: 10k words by default, words past 256 bytes never cached.
// A larger table costs little and keeps CJK text (many distinct runs) hitting.
constexpr size_t kCacheCapacity = 1 << 16;
constexpr size_t kCacheMaxWordBytes = 256;

struct Candidate {
  uint32_t rank;
  int pos;
  uint32_t new_id;
  uint32_t left, right;  // the pair it was made for
  bool operator>(const Candidate& other) const { return rank != other.rank ? rank > other.rank : pos > other.pos; }
};

struct MergeScratch {
  std::vector<uint32_t> symbols;
  std::vector<int> prev, next;
  std::vector<unsigned char> alive;
  std::vector<Candidate> heap;
};

void require_unset(const Json& model, std::string_view key, std::string_view where) {
  auto it = model.find(key);
  if (it == model.end() || it->is_null() || (it->is_string() && it->get<std::string>().empty())) return;
  fail("{}: not supported (dseek handles BPE models without it)", json_fields::path(where, key));
}

}  // namespace

Bpe::Bpe(const Json& model, const VocabEntries& vocab, std::string_view where) {
  std::string type = json_fields::string_or(model, "type", "BPE", where);
  if (type != "BPE") fail("{}: unsupported model type {}", json_fields::path(where, "type"), type);
  require_unset(model, "continuing_subword_prefix", where);
  require_unset(model, "end_of_word_suffix", where);
  if (auto it = model.find("dropout"); it != model.end() && !it->is_null() && !(it->is_number() && *it == 0))
    fail("{}: BPE dropout is random and not supported", json_fields::path(where, "dropout"));
  fuse_unk_ = json_fields::bool_or(model, "fuse_unk", false, where);
  byte_fallback_ = json_fields::bool_or(model, "byte_fallback", false, where);
  ignore_merges_ = json_fields::bool_or(model, "ignore_merges", false, where);

  json_fields::require_object(model, "vocab", where);
  vocab_.reserve(vocab.size());
  for (const auto& [token, id] : vocab) {
    if (id >= tokens_.size()) {
      tokens_.resize(id + 1);
      present_.resize(id + 1, false);
    }
    tokens_[id] = token;
    present_[id] = true;
    vocab_[token] = id;
  }
  short_character_ids_.assign(0x800, -1);
  for (char32_t cp = 0; cp < 0x800; ++cp) {
    std::string character;
    utf8::append(character, cp);
    if (auto id = token_to_id(character)) short_character_ids_[cp] = *id;
  }

  std::string unk = json_fields::string_or(model, "unk_token", "", where);
  if (!unk.empty()) {
    unk_id_ = token_to_id(unk);
    if (!unk_id_) fail("{}: unk_token {} is not in the vocabulary", json_fields::path(where, "unk_token"), unk);
  }

  const Json& merges = json_fields::require_array(model, "merges", where);
  std::string merges_where = json_fields::path(where, "merges");
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const Json& merge = merges[rank];
    std::string left, right;
    if (merge.is_string()) {
      // The "a b" form: exactly one space separates the two tokens.
      const auto& text = merge.get_ref<const std::string&>();
      size_t space = text.find(' ');
      if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos)
        fail("{}: expected two tokens separated by one space", json_fields::path(merges_where, rank));
      left = text.substr(0, space);
      right = text.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    } else {
      fail("{}: expected \"a b\" or [\"a\", \"b\"]", json_fields::path(merges_where, rank));
    }
    auto left_id = token_to_id(left), right_id = token_to_id(right), merged_id = token_to_id(left + right);
    if (!left_id || !right_id || !merged_id)
      fail("{}: {} is not in the vocabulary", json_fields::path(merges_where, rank),
           !left_id ? left : !right_id ? right : left + right);
    // A repeated pair keeps its last rank, like Hugging Face's map.
    merges_.insert_or_assign(*left_id, *right_id, Merge{static_cast<uint32_t>(rank), *merged_id});
  }
}

void Bpe::MergeTable::reserve(size_t count) {
  size_t capacity = 8;
  while (capacity < 2 * count) capacity *= 2;
  slots_.assign(capacity, Slot{kEmpty, {}});
  mask_ = capacity - 1;
  shift_ = 64 - std::countr_zero(capacity);
}

void Bpe::MergeTable::insert_or_assign(uint32_t left, uint32_t right, Merge merge) {
  uint64_t key = pack(left, right);
  size_t i = slot_of(key);
  // reserve() left at least half the slots empty, so probing always ends.
  while (slots_[i].key != kEmpty && slots_[i].key != key) i = (i + 1) & mask_;
  slots_[i] = Slot{key, merge};
}

std::optional<uint32_t> Bpe::character_id(std::string_view character) const {
  if (character.size() <= 2) {
    size_t pos = 0;
    int32_t id = short_character_ids_[utf8::next(character, pos)];
    if (id < 0) return std::nullopt;
    return static_cast<uint32_t>(id);
  }
  return token_to_id(character);
}

std::optional<uint32_t> Bpe::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* Bpe::id_to_token(uint32_t id) const {
  return id < tokens_.size() && present_[id] ? &tokens_[id] : nullptr;
}

void Bpe::tokenize(std::string_view word, std::vector<uint32_t>& ids) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (auto id = token_to_id(word)) {
      ids.push_back(*id);
      return;
    }
  }
  bool cacheable = word.size() <= kCacheMaxWordBytes;
  if (cacheable) {
    std::shared_lock lock(cache_->mutex);
    auto it = cache_->words.find(word);
    if (it != cache_->words.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t first = ids.size();
  merge_word(word, ids);
  if (cacheable) {
    std::unique_lock lock(cache_->mutex);
    if (cache_->words.size() < kCacheCapacity)
      cache_->words.try_emplace(std::string(word), ids.begin() + static_cast<std::ptrdiff_t>(first), ids.end());
  }
}

// One symbol per character; characters outside the vocabulary become byte-fallback
// tokens or (fused) unknown tokens, or vanish, exactly as in Hugging Face's merge_word.
void Bpe::initial_symbols(std::string_view word, std::vector<uint32_t>& symbols) const {
  bool pending_unk = false;
  size_t pos = 0;
  while (pos < word.size()) {
    size_t length = utf8::sequence_length(static_cast<unsigned char>(word[pos]));
    std::string_view character = word.substr(pos, length);
    pos += length;
    if (auto id = character_id(character)) {
      if (pending_unk) symbols.push_back(*unk_id_);
      pending_unk = false;
      symbols.push_back(*id);
      continue;
    }
    if (byte_fallback_) {
      std::vector<uint32_t> bytes;
      for (char c : character) {
        auto id = token_to_id(fmt::format("<0x{:02X}>", static_cast<unsigned char>(c)));
        if (!id) break;
        bytes.push_back(*id);
      }
      if (bytes.size() == character.size()) {
        symbols.insert(symbols.end(), bytes.begin(), bytes.end());
        continue;
      }
    }
    if (unk_id_) {
      if (pending_unk && !fuse_unk_) symbols.push_back(*unk_id_);
      pending_unk = true;
    }
  }
  if (pending_unk) symbols.push_back(*unk_id_);
}

void Bpe::merge_word(std::string_view word, std::vector<uint32_t>& ids) const {
  // Per-thread buffers: merging runs for every word the cache misses.
  thread_local MergeScratch scratch;
  auto& [symbols, prev, next, alive, heap] = scratch;
  symbols.clear();
  initial_symbols(word, symbols);
  const int n = static_cast<int>(symbols.size());
  prev.resize(n);
  next.resize(n);
  alive.assign(n, 1);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }

  // A min-heap: lowest rank first, leftmost among equal ranks.
  heap.clear();
  auto push_pair = [&](int left) {
    int right = next[left];
    if (right < 0) return;
    if (const Merge* merge = merges_.find(symbols[left], symbols[right])) {
      heap.push_back({merge->rank, left, merge->new_id, symbols[left], symbols[right]});
      std::push_heap(heap.begin(), heap.end(), std::greater<>());
    }
  };
  for (int i = 0; i + 1 < n; ++i) push_pair(i);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    Candidate top = heap.back();
    heap.pop_back();
    if (!alive[top.pos] || next[top.pos] < 0) continue;
    // Entries go stale as symbols merge; like Hugging Face, one is still taken when the
    // pair now at its place merges into the same id.
    int right = next[top.pos];
    if (symbols[top.pos] != top.left || symbols[right] != top.right) {
      const Merge* merge = merges_.find(symbols[top.pos], symbols[right]);
      if (merge == nullptr || merge->new_id != top.new_id) continue;
    }
    symbols[top.pos] = top.new_id;
    alive[right] = 0;
    next[top.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = top.pos;
    if (prev[top.pos] >= 0) push_pair(prev[top.pos]);
    push_pair(top.pos);
  }
  for (int i = 0; i < n; ++i)
    if (alive[i]) ids.push_back(symbols[i]);
}

}  // namespace dseek
