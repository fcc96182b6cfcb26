#pragma once
// Errors a user can act on (bad input, bad options) are marrow::Error: the CLI prints the message on
// one line and exits with code 2. Anything else escaping to main is a bug and exits with code 1.
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace marrow {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// Prefixes an error raised while handling `path` with the path, once.
[[noreturn]] void rethrow_with_path(const std::string& path, const Error& error);

}  // namespace marrow
