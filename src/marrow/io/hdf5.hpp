#pragma once
// A thin RAII layer over the HDF5 C API: handles that close themselves, typed reads with HDF5 doing
// the type conversion (float64 on disk -> float in memory, int32 -> int64 ...), strings in both the
// variable-length and fixed-length layouts h5py writes, and errors that name the file and object.
// Nothing here knows about AnnData; h5ad_reader/h5ad_writer and tenx build on it.
#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace marrow::h5 {

// Owns one HDF5 identifier and closes it with the matching H5*close function.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept : id_(other.id_) { other.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = other.id_;
      other.id_ = H5I_INVALID_HID;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t id() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
};

enum class Mode { ReadOnly, ReadWrite, Create };

class File;

// A group or file location: the place relative paths are resolved from.
class Location {
 public:
  Location(hid_t id, std::string file, std::string path) : id_(id), file_(std::move(file)), path_(std::move(path)) {}
  hid_t id() const { return id_; }
  const std::string& file() const { return file_; }
  const std::string& path() const { return path_; }
  std::string child_path(const std::string& name) const;

  bool exists(const std::string& name) const;  // every intermediate link is checked
  bool is_group(const std::string& name) const;
  bool is_dataset(const std::string& name) const;
  std::vector<std::string> children() const;

 protected:
  hid_t id_;
  std::string file_;
  std::string path_;
};

class Group : public Location {
 public:
  Group(Handle handle, std::string file, std::string path)
      : Location(handle.id(), std::move(file), std::move(path)), handle_(std::move(handle)) {}
  Group(Group&&) = default;

 private:
  Handle handle_;
};

class File : public Location {
 public:
  static File open(const std::string& path, Mode mode);
  File(File&&) = default;
  void flush();

 private:
  File(Handle handle, std::string path) : Location(handle.id(), path, "/"), handle_(std::move(handle)) {}
  Handle handle_;
};

Group open_group(const Location& at, const std::string& name);
Group create_group(const Location& at, const std::string& name);  // intermediate groups too
void remove_link(const Location& at, const std::string& name);    // no-op when absent

// Each variable-length string in a record claims its own length (up to 4 GB), and HDF5 allocates and
// copies that many bytes per string before it looks at the heap object behind it: a damaged record
// costs seconds and gigabytes, every record of a dataset claiming so runs the machine out of memory.
// The strings of one dataset cannot hold more bytes than the file they are in, so reads through
// transfer() refuse (a clean HDF5 read error, exceeded() true) once their claims pass the file's size.
class StringBudget {
 public:
  explicit StringBudget(hid_t object);  // any object of the file the strings are read from
  StringBudget(const StringBudget&) = delete;
  StringBudget& operator=(const StringBudget&) = delete;
  hid_t transfer() const { return plist_.id(); }  // the H5Dread transfer property list
  bool exceeded() const { return exceeded_; }
  std::string describe() const;  // "strings claim N, more than the file's M"

 private:
  static void* allocate(size_t size, void* self);
  static void release(void* memory, void* self);
  Handle plist_;
  double limit_ = 0, claimed_ = 0;
  bool exceeded_ = false;
};

// ---- datasets -------------------------------------------------------------------------------
enum class ValueClass { Integer, Float, String, Bool, Compound, Reference, Other };

struct DatasetInfo {
  std::vector<int64_t> shape;
  ValueClass value_class = ValueClass::Other;
  size_t element_size = 0;
  bool is_unsigned = false;
  std::vector<std::string> filters;  // names of the compression filters applied
};

DatasetInfo dataset_info(const Location& at, const std::string& name);

// Reads a numeric dataset (any shape, flattened) converting to T; optional [start, start+count)
// range along the first dimension (rows of a 2-D dataset).
template <typename T>
std::vector<T> read_numeric(const Location& at, const std::string& name, std::optional<int64_t> start = {},
                            std::optional<int64_t> count = {});
std::vector<std::string> read_strings(const Location& at, const std::string& name);
// Compound (record) datasets, as anndata < 0.7 wrote obs/var: the field names and one field.
std::vector<std::string> compound_fields(const Location& at, const std::string& name);
std::vector<std::string> read_compound_strings(const Location& at, const std::string& name, const std::string& field);
std::vector<double> read_compound_numbers(const Location& at, const std::string& name, const std::string& field);
ValueClass compound_field_class(const Location& at, const std::string& name, const std::string& field);

struct WriteOptions {
  bool compress = true;  // gzip level 4, chunked, as anndata does with compression="gzip"
};
template <typename T>
void write_numeric(const Location& at, const std::string& name, const std::vector<T>& values,
                   const std::vector<int64_t>& shape, WriteOptions options = {});
void write_strings(const Location& at, const std::string& name, const std::vector<std::string>& values,
                   WriteOptions options = {});
void write_bools(const Location& at, const std::string& name, const std::vector<uint8_t>& values);
void write_bool_scalar(const Location& at, const std::string& name, bool value);
void write_string_scalar(const Location& at, const std::string& name, const std::string& value);
template <typename T>
void write_scalar(const Location& at, const std::string& name, T value);

// ---- attributes -----------------------------------------------------------------------------
// `object` is a path relative to `at` ("." for `at` itself).
bool has_attribute(const Location& at, const std::string& object, const std::string& attribute);
std::optional<std::string> read_string_attribute(const Location& at, const std::string& object,
                                                 const std::string& attribute);
std::vector<std::string> read_string_array_attribute(const Location& at, const std::string& object,
                                                     const std::string& attribute);
// A numpy-bool (enum) or integer scalar attribute, e.g. a categorical's "ordered".
std::optional<bool> read_bool_attribute(const Location& at, const std::string& object, const std::string& attribute);
std::vector<int64_t> read_int_array_attribute(const Location& at, const std::string& object,
                                              const std::string& attribute);
// The dataset an object-reference attribute points to (anndata 0.7 categorical "categories").
std::optional<std::string> read_reference_attribute_target(const Location& at, const std::string& object,
                                                           const std::string& attribute);
void write_string_attribute(const Location& at, const std::string& object, const std::string& attribute,
                            const std::string& value);
void write_string_array_attribute(const Location& at, const std::string& object, const std::string& attribute,
                                  const std::vector<std::string>& values);
void write_int_array_attribute(const Location& at, const std::string& object, const std::string& attribute,
                               const std::vector<int64_t>& values);
void write_bool_attribute(const Location& at, const std::string& object, const std::string& attribute, bool value);

std::string library_version();

}  // namespace marrow::h5
