#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace marrow {

std::vector<std::string> split(std::string_view text, char separator);
std::string_view trim(std::string_view text);
std::string to_lower(std::string_view text);
bool ends_with(std::string_view text, std::string_view suffix);
// "a, b, c" for the first `limit` items, then ", ... (N more)".
std::string join_limited(const std::vector<std::string>& items, size_t limit = 12);
// 10393 -> "10,393", for counts shown to people.
std::string with_thousands(int64_t value);
// Parses a whole string as a number; false if anything is left over.
bool parse_double(std::string_view text, double& value);
bool parse_int64(std::string_view text, int64_t& value);

}  // namespace marrow
