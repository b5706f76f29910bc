// Python's str semantics over UTF-8 text: lengths, indices and slices count code points. Case mapping covers
// ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic and full-width Latin: the scripts chat
// templates and role names use, not the whole Unicode database.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dseek::pystr {

// Decodes the code point starting at s[i] and advances i past it. Invalid or truncated sequences
// decode one byte at a time as U+FFFD, so every input makes progress.
char32_t decode(std::string_view s, size_t& i);
// Code points in s.
size_t length(std::string_view s);
// Byte offset of every code point, followed by s.size().
std::vector<size_t> offsets(std::string_view s);

bool is_space(char32_t cp);

// chars: the characters to strip; whitespace when absent.
std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right);
// sep absent: runs of whitespace. maxsplit < 0: no limit.
std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit);
std::vector<std::string> rsplit(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit);
std::vector<std::string> splitlines(std::string_view s, bool keepends);

std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string title(std::string_view s);
std::string capitalize(std::string_view s);
std::string swapcase(std::string_view s);
bool is_lower(std::string_view s);
bool is_upper(std::string_view s);
bool is_alpha(std::string_view s);
bool is_digit(std::string_view s);
bool is_alnum(std::string_view s);
bool is_space(std::string_view s);

// count < 0: replace all.
std::string replace(std::string_view s, std::string_view old, std::string_view replacement, int64_t count);
// Code point index of the first (or last) occurrence, or -1.
int64_t find(std::string_view s, std::string_view sub, bool reverse);
int64_t count(std::string_view s, std::string_view sub);

}  // namespace dseek::pystr
