#include "marrow/io/text_reader.hpp"

#include <zlib.h>

#include <filesystem>

#include "marrow/core/error.hpp"

namespace marrow::io {

TextReader::TextReader(const std::string& path) : path_(path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail("{}: file not found", path);
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) fail("{}: cannot open", path);
  gzbuffer(file, 1 << 18);
  handle_ = file;
}

TextReader::~TextReader() {
  if (handle_) gzclose(static_cast<gzFile>(handle_));
}

bool TextReader::fill() {
  if (eof_) return false;
  buffer_.erase(0, position_);
  position_ = 0;
  size_t old = buffer_.size();
  buffer_.resize(old + (1 << 18));
  int n = gzread(static_cast<gzFile>(handle_), buffer_.data() + old, 1 << 18);
  if (n < 0) {
    int code = 0;
    const char* message = gzerror(static_cast<gzFile>(handle_), &code);
    fail("{}: corrupt or truncated compressed data ({})", path_, message ? message : "read error");
  }
  buffer_.resize(old + n);
  if (n == 0) {
    eof_ = true;
    int code = 0;
    gzerror(static_cast<gzFile>(handle_), &code);
    if (code != Z_OK && code != Z_STREAM_END) fail("{}: corrupt or truncated compressed data", path_);
  }
  return n > 0;
}

bool TextReader::next_line(std::string& line) {
  while (true) {
    size_t newline = buffer_.find('\n', position_);
    if (newline != std::string::npos) {
      line.assign(buffer_, position_, newline - position_);
      position_ = newline + 1;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      ++line_number_;
      return true;
    }
    if (!fill()) {
      if (position_ >= buffer_.size()) return false;
      line.assign(buffer_, position_, std::string::npos);
      position_ = buffer_.size();
      if (!line.empty() && line.back() == '\r') line.pop_back();
      ++line_number_;
      return true;
    }
  }
}

}  // namespace marrow::io
