#include "marrow/core/error.hpp"

namespace marrow {

void rethrow_with_path(const std::string& path, const Error& error) {
  std::string message = error.what();
  if (message.rfind(path + ":", 0) == 0) throw error;
  throw Error(path + ": " + message);
}

}  // namespace marrow
