#include "tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <utility>

#include "tokenizer/byte_level.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/pattern.h"
#include "tokenizer/regex.h"
#include "util/error.h"

namespace dseek {
namespace {

using json_fields::Json;

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

Behavior parse_behavior(const std::string& name, std::string_view where) {
  if (name == "Removed") return Behavior::kRemoved;
  if (name == "Isolated") return Behavior::kIsolated;
  if (name == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return Behavior::kMergedWithNext;
  if (name == "Contiguous") return Behavior::kContiguous;
  fail("{}: unknown split behavior {}", where, name);
}

struct Span {
  size_t begin, end;
  bool flag;  // first "is a match", then "is removed"
};

// Cuts every piece at the regex's matches the way Hugging Face's NormalizedString::split
// does for each behavior (empty matches included, as they steer the merging rules).
class RegexSplitter {
 public:
  RegexSplitter(const Regex* regex, Behavior behavior, bool invert)
      : regex_(regex), behavior_(behavior), invert_(invert) {}

  void apply(Pieces& pieces) const {
    std::vector<std::string_view> out;
    out.reserve(pieces.views.size());
    std::vector<std::pair<size_t, size_t>> matches;
    std::vector<Span> spans, merged;
    for (std::string_view piece : pieces.views) split(piece, matches, spans, merged, out);
    pieces.views = std::move(out);
  }

  void split(std::string_view piece, std::vector<std::pair<size_t, size_t>>& matches, std::vector<Span>& spans,
             std::vector<Span>& merged, std::vector<std::string_view>& out) const {
    matches.clear();
    if (regex_ != nullptr) regex_->find_all(piece, matches);
    if (behavior_ == Behavior::kIsolated) {
      // The common case, without the bookkeeping the merging behaviors need.
      size_t previous = 0;
      for (auto [begin, end] : matches) {
        if (previous != begin) out.push_back(piece.substr(previous, begin - previous));
        if (end != begin) out.push_back(piece.substr(begin, end - begin));
        previous = end;
      }
      if (previous != piece.size()) out.push_back(piece.substr(previous));
      return;
    }
    spans.clear();
    size_t previous = 0;
    for (auto [begin, end] : matches) {
      if (previous != begin) spans.push_back({previous, begin, invert_});
      spans.push_back({begin, end, !invert_});
      previous = end;
    }
    if (previous != piece.size()) spans.push_back({previous, piece.size(), invert_});

    merged.clear();
    bool previous_match = false;
    if (behavior_ == Behavior::kRemoved) {
      merged = spans;
    } else if (behavior_ == Behavior::kMergedWithPrevious) {
      for (const Span& s : spans) {
        if (s.flag && !previous_match && !merged.empty())
          merged.back().end = s.end;
        else
          merged.push_back({s.begin, s.end, false});
        previous_match = s.flag;
      }
    } else if (behavior_ == Behavior::kMergedWithNext) {
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->flag && !previous_match && !merged.empty())
          merged.back().begin = it->begin;
        else
          merged.push_back({it->begin, it->end, false});
        previous_match = it->flag;
      }
      std::reverse(merged.begin(), merged.end());
    } else {  // Contiguous
      for (const Span& s : spans) {
        if (s.flag == previous_match && !merged.empty())
          merged.back().end = s.end;
        else
          merged.push_back({s.begin, s.end, false});
        previous_match = s.flag;
      }
    }
    for (const Span& s : merged)
      if (!s.flag && s.end > s.begin) out.push_back(piece.substr(s.begin, s.end - s.begin));
  }

 private:
  const Regex* regex_;
  Behavior behavior_;
  bool invert_;
};

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(std::unique_ptr<Regex> regex, Behavior behavior, bool invert)
      : regex_(std::move(regex)), splitter_(regex_.get(), behavior, invert) {}
  void pre_tokenize(Pieces& pieces) const override { splitter_.apply(pieces); }

 private:
  std::unique_ptr<Regex> regex_;
  RegexSplitter splitter_;
};

// Numbers are Unicode N* characters (Rust's char::is_numeric), so "½" splits off too.
class DigitsPreTokenizer final : public PreTokenizer {
 public:
  explicit DigitsPreTokenizer(bool individual)
      : splitter_(&numeric(), individual ? Behavior::kIsolated : Behavior::kContiguous, false) {}
  void pre_tokenize(Pieces& pieces) const override { splitter_.apply(pieces); }

 private:
  static const Regex& numeric() {
    static const Regex regex("\\p{N}", "Digits pre-tokenizer");
    return regex;
  }
  RegexSplitter splitter_;
};

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), splitter_(use_regex ? &gpt2() : nullptr, Behavior::kIsolated, false) {}

  void pre_tokenize(Pieces& pieces) const override {
    if (add_prefix_space_)
      for (std::string_view& piece : pieces.views)
        if (piece.front() != ' ') {
          std::string spaced(1, ' ');
          spaced += piece;
          piece = pieces.keep(std::move(spaced));
        }
    splitter_.apply(pieces);
    // All mapped pieces share one buffer; views are taken once it stops growing.
    std::string mapped;
    std::vector<size_t> ends;
    ends.reserve(pieces.views.size());
    for (std::string_view piece : pieces.views) {
      byte_level::encode(piece, mapped);
      ends.push_back(mapped.size());
    }
    std::string_view all = pieces.keep(std::move(mapped));
    size_t begin = 0;
    for (size_t i = 0; i < ends.size(); ++i) {
      pieces.views[i] = all.substr(begin, ends[i] - begin);
      begin = ends[i];
    }
  }

 private:
  static const Regex& gpt2() {
    static const Regex regex("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
                             "ByteLevel pre-tokenizer");
    return regex;
  }
  bool add_prefix_space_;
  RegexSplitter splitter_;
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  void pre_tokenize(Pieces& pieces) const override {
    for (const auto& step : steps_) step->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

void collect(const Json& spec, std::string_view where, std::vector<std::unique_ptr<PreTokenizer>>& out) {
  if (spec.is_null()) return;
  std::string type = json_fields::type_of(spec, where);
  if (type == "Sequence") {
    const Json& steps = json_fields::require_array(spec, "pretokenizers", where);
    std::string steps_where = json_fields::path(where, "pretokenizers");
    for (size_t i = 0; i < steps.size(); ++i) collect(steps[i], json_fields::path(steps_where, i), out);
  } else if (type == "Split") {
    auto regex = compile_pattern(json_fields::require(spec, "pattern", where), json_fields::path(where, "pattern"));
    Behavior behavior = parse_behavior(json_fields::require_string(spec, "behavior", where),
                                       json_fields::path(where, "behavior"));
    bool invert = json_fields::bool_or(spec, "invert", false, where);
    out.push_back(std::make_unique<SplitPreTokenizer>(std::move(regex), behavior, invert));
  } else if (type == "Digits") {
    out.push_back(std::make_unique<DigitsPreTokenizer>(json_fields::bool_or(spec, "individual_digits", false, where)));
  } else if (type == "ByteLevel") {
    out.push_back(std::make_unique<ByteLevelPreTokenizer>(json_fields::bool_or(spec, "add_prefix_space", true, where),
                                                          json_fields::bool_or(spec, "use_regex", true, where)));
  } else {
    fail("{}: unsupported pre_tokenizer type {}", where, type);
  }
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& spec, std::string_view where) {
  std::vector<std::unique_ptr<PreTokenizer>> steps;
  collect(spec, where, steps);
  if (steps.empty()) return nullptr;
  if (steps.size() == 1) return std::move(steps.front());
  return std::make_unique<SequencePreTokenizer>(std::move(steps));
}

}  // namespace dseek
