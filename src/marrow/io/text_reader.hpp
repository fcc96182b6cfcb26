#pragma once
// Line reader for plain or gzip-compressed text (zlib reads both transparently).
#include <memory>
#include <string>

namespace marrow::io {

class TextReader {
 public:
  explicit TextReader(const std::string& path);
  ~TextReader();
  TextReader(const TextReader&) = delete;
  TextReader& operator=(const TextReader&) = delete;
  // Reads the next line without its line ending; false at end of file. Fails on a corrupt gzip stream.
  bool next_line(std::string& line);
  int64_t line_number() const { return line_number_; }
  const std::string& path() const { return path_; }

 private:
  bool fill();
  std::string path_;
  void* handle_ = nullptr;  // gzFile
  std::string buffer_;
  size_t position_ = 0;
  bool eof_ = false;
  int64_t line_number_ = 0;
};

}  // namespace marrow::io
