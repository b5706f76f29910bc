// tokenizer.json "model" of type BPE: vocabulary, ranked merges and the per-word merge
// loop of Hugging Face's BPE, with a bounded cache of words already split.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace dseek {

// Hashing that lets string-keyed maps be probed with a string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};
template <typename Value>
using StringMap = std::unordered_map<std::string, Value, StringHash, std::equal_to<>>;

class Bpe {
 public:
  using VocabEntries = std::vector<std::pair<std::string, uint32_t>>;

  // `vocab` holds model.vocab's entries: tokenizer.json parsing keeps them out of the JSON
  // tree, where 100k keys take most of the load time.
  Bpe(const nlohmann::json& model, const VocabEntries& vocab, std::string_view where);

  // Appends the ids of one pre-tokenized word. Thread-safe.
  void tokenize(std::string_view word, std::vector<uint32_t>& ids) const;

  std::optional<uint32_t> token_to_id(std::string_view token) const;
  // nullptr for ids the vocabulary does not use.
  const std::string* id_to_token(uint32_t id) const;
  // One past the largest id in the vocabulary.
  uint32_t id_limit() const { return static_cast<uint32_t>(tokens_.size()); }

 private:
  struct Merge {
    uint32_t rank;
    uint32_t new_id;
  };

  // Open-addressing table of merges keyed by the pair of ids: merging looks pairs up
  // several times per symbol, and std::unordered_map's nodes and modulo dominated.
  class MergeTable {
   public:
    void reserve(size_t count);  // before any insert: the table does not grow
    void insert_or_assign(uint32_t left, uint32_t right, Merge merge);
    const Merge* find(uint32_t left, uint32_t right) const {
      uint64_t key = pack(left, right);
      for (size_t i = slot_of(key);; i = (i + 1) & mask_) {
        if (slots_[i].key == key) return &slots_[i].merge;
        if (slots_[i].key == kEmpty) return nullptr;
      }
    }

   private:
    struct Slot {
      uint64_t key;
      Merge merge;
    };
    static constexpr uint64_t kEmpty = ~uint64_t{0};  // ids are below 2^32 - 1
    static uint64_t pack(uint32_t left, uint32_t right) { return (uint64_t{left} << 32) | right; }
    size_t slot_of(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_); }
    std::vector<Slot> slots_;
    size_t mask_ = 0;
    int shift_ = 64;
  };

  void merge_word(std::string_view word, std::vector<uint32_t>& ids) const;
  void initial_symbols(std::string_view word, std::vector<uint32_t>& symbols) const;
  std::optional<uint32_t> character_id(std::string_view character) const;

  StringMap<uint32_t> vocab_;
  std::vector<std::string> tokens_;
  std::vector<bool> present_;
  // Ids of the one- and two-byte characters (all of the byte-level alphabet), -1 if none.
  std::vector<int32_t> short_character_ids_;
  MergeTable merges_;
  std::optional<uint32_t> unk_id_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;

  // Words repeat a lot in text; merging is the expensive part, so remember results.
  struct Cache {
    std::shared_mutex mutex;
    StringMap<std::vector<uint32_t>> words;
  };
  std::unique_ptr<Cache> cache_ = std::make_unique<Cache>();
};

}  // namespace dseek
