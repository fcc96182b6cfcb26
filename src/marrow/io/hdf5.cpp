#include "marrow/io/hdf5.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <type_traits>

#include "marrow/core/error.hpp"
#include "marrow/io/hdf5_guard.hpp"
#include "marrow/runtime/memory.hpp"

namespace marrow::h5 {

namespace {

// HDF5 prints its whole error stack to stderr by default; marrow reports one clear line instead.
void silence_hdf5_errors() {
  static const bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

[[noreturn]] void fail_at(const Location& at, const std::string& name, const std::string& what) {
  fail("{}: {}: {}", at.file(), at.child_path(name), what);
}

template <typename T>
hid_t native_type() {
  if constexpr (std::is_same_v<T, float>) return H5T_NATIVE_FLOAT;
  else if constexpr (std::is_same_v<T, double>) return H5T_NATIVE_DOUBLE;
  else if constexpr (std::is_same_v<T, int8_t>) return H5T_NATIVE_INT8;
  else if constexpr (std::is_same_v<T, uint8_t>) return H5T_NATIVE_UINT8;
  else if constexpr (std::is_same_v<T, int32_t>) return H5T_NATIVE_INT32;
  else if constexpr (std::is_same_v<T, int64_t>) return H5T_NATIVE_INT64;
  else static_assert(sizeof(T) == 0, "unsupported HDF5 element type");
}

Handle open_dataset(const Location& at, const std::string& name) {
  silence_hdf5_errors();
  if (!at.exists(name)) fail_at(at, name, "dataset not found");
  hid_t id = H5Dopen2(at.id(), name.c_str(), H5P_DEFAULT);
  if (id < 0) fail_at(at, name, "cannot open dataset (file truncated or corrupt?)");
  return Handle(id);
}

Handle open_attribute(const Location& at, const std::string& object, const std::string& attribute) {
  hid_t id = H5Aopen_by_name(at.id(), object.c_str(), attribute.c_str(), H5P_DEFAULT, H5P_DEFAULT);
  if (id < 0) fail_at(at, object, "cannot open attribute '" + attribute + "'");
  return Handle(id);
}

std::vector<int64_t> space_shape(hid_t space) {
  int rank = H5Sget_simple_extent_ndims(space);
  if (rank <= 0) return {};
  std::vector<hsize_t> dims(rank);
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return {dims.begin(), dims.end()};
}

int64_t element_count(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// A shape read from a file can overflow int64 when multiplied out: this product cannot.
double element_count_exact(const std::vector<int64_t>& shape) {
  double n = 1;
  for (int64_t d : shape) n *= static_cast<double>(static_cast<uint64_t>(d));
  return n;
}

// Before `n` values of `bytes_each` are allocated for `name`: a contiguous (unchunked) dataset
// cannot hold more bytes than its file, and nothing may need more memory than there is.
void check_allocation(const Location& at, const std::string& name, hid_t dataset, double n, double bytes_each) {
  if (dataset >= 0) {
    Handle plist(H5Dget_create_plist(dataset));
    Handle type(H5Dget_type(dataset));
    Handle space(H5Dget_space(dataset));
    hsize_t file_size = 0;
    Handle file(H5Iget_file_id(dataset));
    H5Fget_filesize(file.id(), &file_size);
    double declared = element_count_exact(space_shape(space.id())) * static_cast<double>(H5Tget_size(type.id()));
    if (H5Pget_layout(plist.id()) == H5D_CONTIGUOUS && declared > static_cast<double>(file_size) &&
        H5Dget_storage_size(dataset) > 0)
      fail_at(at, name, fmt::format("declares {} of values but the file has {} (truncated or corrupt)",
                                    runtime::format_bytes(declared), runtime::format_bytes(static_cast<double>(file_size))));
  }
  runtime::require_memory(at.file(), at.child_path(name) + fmt::format(" ({} values)", n), n * bytes_each,
                          runtime::kStreamHint);
}

struct Filter {
  H5Z_filter_t id;
  std::string name;
};

// The compression filters of a dataset, named as users know them.
std::vector<Filter> dataset_filters(hid_t dataset) {
  Handle plist(H5Dget_create_plist(dataset));
  std::vector<Filter> filters;
  int n = H5Pget_nfilters(plist.id());
  for (int i = 0; i < n; ++i) {
    unsigned flags = 0, filter_config = 0;
    size_t n_values = 0;
    char filter_name[128] = {0};
    H5Z_filter_t id =
        H5Pget_filter2(plist.id(), i, &flags, &n_values, nullptr, sizeof filter_name, filter_name, &filter_config);
    if (id < 0) continue;
    std::string name = id == H5Z_FILTER_DEFLATE ? "gzip" : id == H5Z_FILTER_SHUFFLE ? "shuffle" : id == 32000 ? "lzf"
                       : id == 32001 ? "blosc" : id == 32004 ? "lz4" : id == 32015 ? "zstd"
                       : filter_name[0] ? filter_name : std::to_string(id);
    filters.push_back({id, name});
  }
  return filters;
}

// Checks that every filter of the dataset can be decoded here, naming the one that cannot.
void check_filters(const Location& at, const std::string& name, hid_t dataset) {
  for (const Filter& filter : dataset_filters(dataset)) {
    if (H5Zfilter_avail(filter.id) <= 0)
      fail_at(at, name,
              fmt::format("compressed with the '{}' filter (id {}), which this HDF5 library cannot decode; "
                          "re-save it with gzip, e.g. adata.write_h5ad(path, compression='gzip')",
                          filter.name, static_cast<int>(filter.id)));
  }
}

void write_with_optional_chunks(const Location& at, const std::string& name, hid_t file_type, hid_t mem_type,
                                const std::vector<int64_t>& shape, const void* data, WriteOptions options) {
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  Handle space(shape.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  Handle plist(H5Pcreate(H5P_DATASET_CREATE));
  int64_t total = element_count(shape);
  if (options.compress && !shape.empty() && total > 0) {
    // About 64k elements a chunk, whole rows for 2-D data (row-range reads stay cheap).
    std::vector<hsize_t> chunk(dims);
    hsize_t row_elements = 1;
    for (size_t d = 1; d < dims.size(); ++d) row_elements *= dims[d];
    chunk[0] = std::clamp<hsize_t>(65536 / std::max<hsize_t>(row_elements, 1), 1, dims[0]);
    H5Pset_chunk(plist.id(), static_cast<int>(chunk.size()), chunk.data());
    H5Pset_deflate(plist.id(), 4);
  }
  hid_t id = H5Dcreate2(at.id(), name.c_str(), file_type, space.id(), H5P_DEFAULT, plist.id(), H5P_DEFAULT);
  if (id < 0) fail_at(at, name, "cannot create dataset");
  Handle dataset(id);
  if (total > 0 && H5Dwrite(dataset.id(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    fail_at(at, name, "cannot write dataset");
}

Handle utf8_vlen_string_type() {
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.id(), H5T_VARIABLE);
  H5Tset_cset(type.id(), H5T_CSET_UTF8);
  return type;
}

Handle bool_enum_type() {  // h5py's layout for numpy bool
  Handle type(H5Tenum_create(H5T_NATIVE_INT8));
  int8_t f = 0, t = 1;
  H5Tenum_insert(type.id(), "FALSE", &f);
  H5Tenum_insert(type.id(), "TRUE", &t);
  return type;
}

// Strings from a dataset or attribute whose type is `type` and element count `n`.
template <typename ReadFn>
std::vector<std::string> read_string_values(hid_t type, int64_t n, ReadFn read) {
  if (n < 0) fail("HDF5 string array with a negative size (corrupt file)");
  std::vector<std::string> out;
  out.reserve(n);
  if (H5Tis_variable_str(type) > 0) {
    Handle mem(H5Tcopy(H5T_C_S1));
    H5Tset_size(mem.id(), H5T_VARIABLE);
    H5Tset_cset(mem.id(), H5Tget_cset(type));
    std::vector<char*> ptrs(n, nullptr);
    if (n > 0 && !read(mem.id(), ptrs.data())) return {};
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    Handle space(H5Screate_simple(1, std::array<hsize_t, 1>{static_cast<hsize_t>(n)}.data(), nullptr));
    if (n > 0) H5Dvlen_reclaim(mem.id(), space.id(), H5P_DEFAULT, ptrs.data());
  } else {
    size_t width = H5Tget_size(type);
    Handle mem(H5Tcopy(H5T_C_S1));
    H5Tset_size(mem.id(), width);
    H5Tset_strpad(mem.id(), H5T_STR_NULLPAD);
    std::vector<char> buffer(width * n);
    if (n > 0 && !read(mem.id(), buffer.data())) return {};
    for (int64_t i = 0; i < n; ++i) {
      const char* s = buffer.data() + i * width;
      size_t len = strnlen(s, width);
      while (len > 0 && s[len - 1] == ' ') --len;
      out.emplace_back(s, len);
    }
  }
  return out;
}

}  // namespace

StringBudget::StringBudget(hid_t object) : plist_(H5Pcreate(H5P_DATASET_XFER)) {
  hsize_t file_size = 0;
  Handle file(H5Iget_file_id(object));
  if (file.valid()) H5Fget_filesize(file.id(), &file_size);
  limit_ = static_cast<double>(file_size);
  H5Pset_vlen_mem_manager(plist_.id(), allocate, this, release, this);
}

void* StringBudget::allocate(size_t size, void* self) {
  auto* budget = static_cast<StringBudget*>(self);
  budget->claimed_ += static_cast<double>(size > 0 ? size - 1 : 0);  // HDF5 asks for the terminator too
  if (budget->claimed_ > budget->limit_) {
    budget->exceeded_ = true;
    return nullptr;
  }
  return std::malloc(size);
}

void StringBudget::release(void* memory, void*) { std::free(memory); }

std::string StringBudget::describe() const {
  return fmt::format("its variable-length strings claim more than {}, the size of the whole file (corrupt)",
                     runtime::format_bytes(limit_));
}

void Handle::reset() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE: H5Fclose(id_); break;
    case H5I_GROUP: H5Gclose(id_); break;
    case H5I_DATASET: H5Dclose(id_); break;
    case H5I_ATTR: H5Aclose(id_); break;
    case H5I_DATASPACE: H5Sclose(id_); break;
    case H5I_DATATYPE: H5Tclose(id_); break;
    case H5I_GENPROP_LST: H5Pclose(id_); break;
    default: H5Oclose(id_);
  }
  id_ = H5I_INVALID_HID;
}

std::string Location::child_path(const std::string& name) const {
  if (name == "." || name.empty()) return path_;
  return path_ == "/" ? "/" + name : path_ + "/" + name;
}

bool Location::exists(const std::string& name) const {
  silence_hdf5_errors();
  if (name == ".") return true;
  // H5Lexists fails on a missing intermediate group, so check each prefix in turn.
  size_t pos = 0;
  while (true) {
    size_t next = name.find('/', pos);
    std::string prefix = name.substr(0, next);
    if (H5Lexists(id_, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    if (next == std::string::npos) return true;
    pos = next + 1;
  }
}

// Opening the object and asking its identifier type works the same on HDF5 1.10 and 1.12+, whose
// H5Oget_info signatures differ.
static H5I_type_t object_type(const Location& at, const std::string& name) {
  if (!at.exists(name)) return H5I_BADID;
  hid_t id = H5Oopen(at.id(), name.c_str(), H5P_DEFAULT);
  if (id < 0) return H5I_BADID;
  H5I_type_t type = H5Iget_type(id);
  H5Oclose(id);
  return type;
}

bool Location::is_group(const std::string& name) const { return object_type(*this, name) == H5I_GROUP; }
bool Location::is_dataset(const std::string& name) const { return object_type(*this, name) == H5I_DATASET; }

std::vector<std::string> Location::children() const {
  std::vector<std::string> names;
  H5Literate(
      id_, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
        static_cast<std::vector<std::string>*>(data)->emplace_back(name);
        return 0;
      },
      &names);
  return names;
}

File File::open(const std::string& path, Mode mode) {
  silence_hdf5_errors();
  if (mode == Mode::Create) {
    hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (id < 0) fail("{}: cannot create HDF5 file", path);
    return File(Handle(id), path);
  }
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail("{}: file not found", path);
  if (std::filesystem::is_directory(path, ec)) fail("{}: is a directory, not an HDF5 file", path);
  check_file_survivable(path);
  htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 <= 0) fail("{}: not an HDF5 file (an .h5ad must be written by anndata or marrow)", path);
  hid_t id = H5Fopen(path.c_str(), mode == Mode::ReadOnly ? H5F_ACC_RDONLY : H5F_ACC_RDWR, H5P_DEFAULT);
  if (id < 0) fail("{}: cannot open HDF5 file: it is truncated or corrupt", path);
  return File(Handle(id), path);
}

void File::flush() { H5Fflush(id_, H5F_SCOPE_GLOBAL); }

Group open_group(const Location& at, const std::string& name) {
  if (!at.is_group(name)) fail_at(at, name, "group not found");
  hid_t id = H5Gopen2(at.id(), name.c_str(), H5P_DEFAULT);
  if (id < 0) fail_at(at, name, "cannot open group (file truncated or corrupt?)");
  return Group(Handle(id), at.file(), at.child_path(name));
}

Group create_group(const Location& at, const std::string& name) {
  silence_hdf5_errors();
  if (at.is_group(name)) return open_group(at, name);
  Handle plist(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(plist.id(), 1);
  hid_t id = H5Gcreate2(at.id(), name.c_str(), plist.id(), H5P_DEFAULT, H5P_DEFAULT);
  if (id < 0) fail_at(at, name, "cannot create group");
  return Group(Handle(id), at.file(), at.child_path(name));
}

void remove_link(const Location& at, const std::string& name) {
  if (!at.exists(name)) return;
  if (H5Ldelete(at.id(), name.c_str(), H5P_DEFAULT) < 0) fail_at(at, name, "cannot remove");
}

DatasetInfo dataset_info(const Location& at, const std::string& name) {
  Handle dataset = open_dataset(at, name);
  Handle space(H5Dget_space(dataset.id()));
  Handle type(H5Dget_type(dataset.id()));
  DatasetInfo info;
  info.shape = space_shape(space.id());
  info.element_size = H5Tget_size(type.id());
  switch (H5Tget_class(type.id())) {
    case H5T_INTEGER:
      info.value_class = ValueClass::Integer;
      info.is_unsigned = H5Tget_sign(type.id()) == H5T_SGN_NONE;
      break;
    case H5T_FLOAT: info.value_class = ValueClass::Float; break;
    case H5T_STRING: info.value_class = ValueClass::String; break;
    case H5T_ENUM: info.value_class = ValueClass::Bool; break;
    case H5T_COMPOUND: info.value_class = ValueClass::Compound; break;
    case H5T_REFERENCE: info.value_class = ValueClass::Reference; break;
    default: info.value_class = ValueClass::Other;
  }
  for (const Filter& filter : dataset_filters(dataset.id())) info.filters.push_back(filter.name);
  return info;
}

template <typename T>
std::vector<T> read_numeric(const Location& at, const std::string& name, std::optional<int64_t> start,
                            std::optional<int64_t> count) {
  Handle dataset = open_dataset(at, name);
  check_filters(at, name, dataset.id());
  Handle file_space(H5Dget_space(dataset.id()));
  Handle type(H5Dget_type(dataset.id()));
  std::vector<int64_t> shape = space_shape(file_space.id());
  H5T_class_t type_class = H5Tget_class(type.id());
  if (type_class != H5T_INTEGER && type_class != H5T_FLOAT && type_class != H5T_ENUM)
    fail_at(at, name, "expected a numeric dataset");

  Handle mem_space;
  int64_t n = element_count(shape);
  if (start || count) {
    if (shape.empty()) fail_at(at, name, "cannot read a row range of a scalar");
    int64_t s = start.value_or(0);
    int64_t c = count.value_or(shape[0] - s);
    if (s < 0 || c < 0 || s + c > shape[0])
      fail_at(at, name, fmt::format("row range [{}, {}) outside the {} rows", s, s + c, shape[0]));
    std::vector<hsize_t> offset(shape.size(), 0), extent(shape.begin(), shape.end());
    offset[0] = s;
    extent[0] = c;
    H5Sselect_hyperslab(file_space.id(), H5S_SELECT_SET, offset.data(), nullptr, extent.data(), nullptr);
    n = element_count(std::vector<int64_t>(extent.begin(), extent.end()));
    hsize_t flat = n;
    mem_space = Handle(H5Screate_simple(1, &flat, nullptr));
    check_allocation(at, name, dataset.id(), static_cast<double>(n), sizeof(T));
  } else {
    check_allocation(at, name, dataset.id(), element_count_exact(shape), sizeof(T));
  }
  std::vector<T> out(n);
  if (n == 0) return out;
  hid_t mem_space_id = mem_space.valid() ? mem_space.id() : H5S_ALL;
  hid_t file_space_id = mem_space.valid() ? file_space.id() : H5S_ALL;
  herr_t status;
  if (type_class == H5T_ENUM) {
    // h5py stores numpy bool as an int8 enum; HDF5 will not convert enums to numbers, so read the
    // enum's own native layout and widen.
    Handle mem_type(H5Tget_native_type(type.id(), H5T_DIR_ASCEND));
    size_t width = H5Tget_size(mem_type.id());
    std::vector<unsigned char> raw(width * n);
    status = H5Dread(dataset.id(), mem_type.id(), mem_space_id, file_space_id, H5P_DEFAULT, raw.data());
    for (int64_t i = 0; i < n; ++i) {
      int64_t v = 0;
      if (width == 1) v = static_cast<int8_t>(raw[i]);
      else std::memcpy(&v, raw.data() + i * width, std::min<size_t>(width, sizeof v));
      out[i] = static_cast<T>(v);
    }
  } else {
    status = H5Dread(dataset.id(), native_type<T>(), mem_space_id, file_space_id, H5P_DEFAULT, out.data());
  }
  if (status < 0) fail_at(at, name, "read failed: the file is truncated or corrupt");
  return out;
}

template std::vector<float> read_numeric(const Location&, const std::string&, std::optional<int64_t>, std::optional<int64_t>);
template std::vector<double> read_numeric(const Location&, const std::string&, std::optional<int64_t>, std::optional<int64_t>);
template std::vector<int8_t> read_numeric(const Location&, const std::string&, std::optional<int64_t>, std::optional<int64_t>);
template std::vector<uint8_t> read_numeric(const Location&, const std::string&, std::optional<int64_t>, std::optional<int64_t>);
template std::vector<int32_t> read_numeric(const Location&, const std::string&, std::optional<int64_t>, std::optional<int64_t>);
template std::vector<int64_t> read_numeric(const Location&, const std::string&, std::optional<int64_t>, std::optional<int64_t>);

std::vector<std::string> read_strings(const Location& at, const std::string& name) {
  Handle dataset = open_dataset(at, name);
  check_filters(at, name, dataset.id());
  Handle space(H5Dget_space(dataset.id()));
  Handle type(H5Dget_type(dataset.id()));
  if (H5Tget_class(type.id()) != H5T_STRING) fail_at(at, name, "expected a string dataset");
  std::vector<int64_t> shape = space_shape(space.id());
  check_allocation(at, name, dataset.id(), element_count_exact(shape), std::max<double>(H5Tget_size(type.id()), sizeof(std::string)));
  int64_t n = element_count(shape);
  bool ok = true;
  StringBudget budget(dataset.id());
  auto values = read_string_values(type.id(), n, [&](hid_t mem, void* buffer) {
    ok = H5Dread(dataset.id(), mem, H5S_ALL, H5S_ALL, budget.transfer(), buffer) >= 0;
    return ok;
  });
  if (!ok) fail_at(at, name, budget.exceeded() ? budget.describe() : "read failed: the file is truncated or corrupt");
  return values;
}

std::vector<std::string> compound_fields(const Location& at, const std::string& name) {
  Handle dataset = open_dataset(at, name);
  Handle type(H5Dget_type(dataset.id()));
  if (H5Tget_class(type.id()) != H5T_COMPOUND) fail_at(at, name, "expected a compound (record) dataset");
  std::vector<std::string> fields;
  int n = H5Tget_nmembers(type.id());
  for (int i = 0; i < n; ++i) {
    char* field = H5Tget_member_name(type.id(), i);
    fields.emplace_back(field);
    H5free_memory(field);
  }
  return fields;
}

static Handle compound_member_type(const Location& at, const std::string& name, hid_t dataset, const std::string& field) {
  Handle type(H5Dget_type(dataset));
  int index = H5Tget_member_index(type.id(), field.c_str());
  if (index < 0) fail_at(at, name, "no field '" + field + "'");
  return Handle(H5Tget_member_type(type.id(), index));
}

ValueClass compound_field_class(const Location& at, const std::string& name, const std::string& field) {
  Handle dataset = open_dataset(at, name);
  Handle member = compound_member_type(at, name, dataset.id(), field);
  switch (H5Tget_class(member.id())) {
    case H5T_INTEGER: return ValueClass::Integer;
    case H5T_FLOAT: return ValueClass::Float;
    case H5T_STRING: return ValueClass::String;
    case H5T_ENUM: return ValueClass::Bool;
    default: return ValueClass::Other;
  }
}

std::vector<std::string> read_compound_strings(const Location& at, const std::string& name, const std::string& field) {
  Handle dataset = open_dataset(at, name);
  Handle space(H5Dget_space(dataset.id()));
  Handle member = compound_member_type(at, name, dataset.id(), field);
  std::vector<int64_t> shape = space_shape(space.id());
  check_allocation(at, name, dataset.id(), element_count_exact(shape), sizeof(std::string));
  int64_t n = element_count(shape);
  StringBudget budget(dataset.id());
  return read_string_values(member.id(), n, [&](hid_t mem, void* buffer) {
    Handle compound(H5Tcreate(H5T_COMPOUND, H5Tget_size(mem)));
    H5Tinsert(compound.id(), field.c_str(), 0, mem);
    if (H5Dread(dataset.id(), compound.id(), H5S_ALL, H5S_ALL, budget.transfer(), buffer) < 0)
      fail_at(at, name, budget.exceeded() ? budget.describe() : "read failed: the file is truncated or corrupt");
    return true;
  });
}

std::vector<double> read_compound_numbers(const Location& at, const std::string& name, const std::string& field) {
  Handle dataset = open_dataset(at, name);
  Handle space(H5Dget_space(dataset.id()));
  Handle member = compound_member_type(at, name, dataset.id(), field);
  std::vector<int64_t> shape = space_shape(space.id());
  check_allocation(at, name, dataset.id(), element_count_exact(shape), sizeof(double));
  int64_t n = element_count(shape);
  std::vector<double> out(n);
  if (H5Tget_class(member.id()) == H5T_ENUM) {
    Handle compound(H5Tcreate(H5T_COMPOUND, 1));
    Handle native(H5Tget_native_type(member.id(), H5T_DIR_ASCEND));
    H5Tinsert(compound.id(), field.c_str(), 0, native.id());
    std::vector<int8_t> raw(n);
    if (n && H5Dread(dataset.id(), compound.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()) < 0)
      fail_at(at, name, "read failed");
    std::copy(raw.begin(), raw.end(), out.begin());
    return out;
  }
  Handle compound(H5Tcreate(H5T_COMPOUND, sizeof(double)));
  H5Tinsert(compound.id(), field.c_str(), 0, H5T_NATIVE_DOUBLE);
  if (n && H5Dread(dataset.id(), compound.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    fail_at(at, name, "read failed: the file is truncated or corrupt");
  return out;
}

template <typename T>
void write_numeric(const Location& at, const std::string& name, const std::vector<T>& values,
                   const std::vector<int64_t>& shape, WriteOptions options) {
  if (element_count(shape) != static_cast<int64_t>(values.size()))
    fail_at(at, name, "internal: shape does not match the number of values");
  write_with_optional_chunks(at, name, native_type<T>(), native_type<T>(), shape, values.data(), options);
}

template void write_numeric(const Location&, const std::string&, const std::vector<float>&, const std::vector<int64_t>&, WriteOptions);
template void write_numeric(const Location&, const std::string&, const std::vector<double>&, const std::vector<int64_t>&, WriteOptions);
template void write_numeric(const Location&, const std::string&, const std::vector<int8_t>&, const std::vector<int64_t>&, WriteOptions);
template void write_numeric(const Location&, const std::string&, const std::vector<int32_t>&, const std::vector<int64_t>&, WriteOptions);
template void write_numeric(const Location&, const std::string&, const std::vector<int64_t>&, const std::vector<int64_t>&, WriteOptions);

void write_strings(const Location& at, const std::string& name, const std::vector<std::string>& values,
                   WriteOptions options) {
  Handle type = utf8_vlen_string_type();
  std::vector<const char*> ptrs;
  ptrs.reserve(values.size());
  for (const auto& v : values) ptrs.push_back(v.c_str());
  write_with_optional_chunks(at, name, type.id(), type.id(), {static_cast<int64_t>(values.size())}, ptrs.data(), options);
}

void write_bools(const Location& at, const std::string& name, const std::vector<uint8_t>& values) {
  Handle type = bool_enum_type();
  std::vector<int8_t> raw(values.begin(), values.end());
  write_with_optional_chunks(at, name, type.id(), type.id(), {static_cast<int64_t>(values.size())}, raw.data(), {});
}

void write_bool_scalar(const Location& at, const std::string& name, bool value) {
  Handle type = bool_enum_type();
  int8_t raw = value ? 1 : 0;
  write_with_optional_chunks(at, name, type.id(), type.id(), {}, &raw, {false});
}

void write_string_scalar(const Location& at, const std::string& name, const std::string& value) {
  Handle type = utf8_vlen_string_type();
  const char* ptr = value.c_str();
  write_with_optional_chunks(at, name, type.id(), type.id(), {}, &ptr, {false});
}

template <typename T>
void write_scalar(const Location& at, const std::string& name, T value) {
  write_with_optional_chunks(at, name, native_type<T>(), native_type<T>(), {}, &value, {false});
}
template void write_scalar(const Location&, const std::string&, double);
template void write_scalar(const Location&, const std::string&, int64_t);

bool has_attribute(const Location& at, const std::string& object, const std::string& attribute) {
  silence_hdf5_errors();
  if (!at.exists(object)) return false;
  return H5Aexists_by_name(at.id(), object.c_str(), attribute.c_str(), H5P_DEFAULT) > 0;
}

std::optional<std::string> read_string_attribute(const Location& at, const std::string& object,
                                                 const std::string& attribute) {
  if (!has_attribute(at, object, attribute)) return std::nullopt;
  auto values = read_string_array_attribute(at, object, attribute);
  if (values.empty()) return std::nullopt;
  return values.front();
}

std::vector<std::string> read_string_array_attribute(const Location& at, const std::string& object,
                                                     const std::string& attribute) {
  if (!has_attribute(at, object, attribute)) return {};
  Handle attr = open_attribute(at, object, attribute);
  Handle type(H5Aget_type(attr.id()));
  Handle space(H5Aget_space(attr.id()));
  std::vector<int64_t> shape = space_shape(space.id());
  check_allocation(at, object, -1, element_count_exact(shape), sizeof(std::string));
  int64_t n = element_count(shape);
  // anndata writes an empty column-order as an empty float array.
  if (H5Tget_class(type.id()) != H5T_STRING) {
    if (n == 0) return {};
    fail_at(at, object, "attribute '" + attribute + "' is not a string");
  }
  return read_string_values(type.id(), n, [&](hid_t mem, void* buffer) {
    if (H5Aread(attr.id(), mem, buffer) < 0) fail_at(at, object, "cannot read attribute '" + attribute + "'");
    return true;
  });
}

std::optional<bool> read_bool_attribute(const Location& at, const std::string& object, const std::string& attribute) {
  if (!has_attribute(at, object, attribute)) return std::nullopt;
  Handle attr = open_attribute(at, object, attribute);
  Handle type(H5Aget_type(attr.id()));
  Handle mem(H5Tget_native_type(type.id(), H5T_DIR_ASCEND));
  std::vector<unsigned char> raw(std::max<size_t>(H5Tget_size(mem.id()), 8), 0);
  if (H5Aread(attr.id(), mem.id(), raw.data()) < 0) fail_at(at, object, "cannot read attribute '" + attribute + "'");
  return std::any_of(raw.begin(), raw.begin() + H5Tget_size(mem.id()), [](unsigned char b) { return b != 0; });
}

std::vector<int64_t> read_int_array_attribute(const Location& at, const std::string& object,
                                              const std::string& attribute) {
  if (!has_attribute(at, object, attribute)) return {};
  Handle attr = open_attribute(at, object, attribute);
  Handle space(H5Aget_space(attr.id()));
  std::vector<int64_t> shape = space_shape(space.id());
  check_allocation(at, object, -1, element_count_exact(shape), sizeof(int64_t));
  std::vector<int64_t> out(element_count(shape));
  if (!out.empty() && H5Aread(attr.id(), H5T_NATIVE_INT64, out.data()) < 0)
    fail_at(at, object, "cannot read attribute '" + attribute + "' as integers");
  return out;
}

std::optional<std::string> read_reference_attribute_target(const Location& at, const std::string& object,
                                                           const std::string& attribute) {
  if (!has_attribute(at, object, attribute)) return std::nullopt;
  Handle attr = open_attribute(at, object, attribute);
  Handle type(H5Aget_type(attr.id()));
  if (H5Tget_class(type.id()) != H5T_REFERENCE) return std::nullopt;
  hobj_ref_t ref;
  if (H5Aread(attr.id(), H5T_STD_REF_OBJ, &ref) < 0) return std::nullopt;
  hid_t target = H5Rdereference2(at.id(), H5P_DEFAULT, H5R_OBJECT, &ref);
  if (target < 0) return std::nullopt;
  Handle target_handle(target);
  char name[1024] = {0};
  H5Iget_name(target, name, sizeof name);
  std::string path(name);
  if (!path.empty() && path.front() == '/') path.erase(0, 1);  // relative to the file root
  return path;
}

static Handle create_attribute(const Location& at, const std::string& object, const std::string& attribute,
                               hid_t type, hid_t space) {
  if (has_attribute(at, object, attribute)) H5Adelete_by_name(at.id(), object.c_str(), attribute.c_str(), H5P_DEFAULT);
  hid_t id = H5Acreate_by_name(at.id(), object.c_str(), attribute.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT,
                               H5P_DEFAULT);
  if (id < 0) fail_at(at, object, "cannot create attribute '" + attribute + "'");
  return Handle(id);
}

void write_string_attribute(const Location& at, const std::string& object, const std::string& attribute,
                            const std::string& value) {
  Handle type = utf8_vlen_string_type();
  Handle space(H5Screate(H5S_SCALAR));
  Handle attr = create_attribute(at, object, attribute, type.id(), space.id());
  const char* ptr = value.c_str();
  H5Awrite(attr.id(), type.id(), &ptr);
}

void write_string_array_attribute(const Location& at, const std::string& object, const std::string& attribute,
                                  const std::vector<std::string>& values) {
  Handle type = utf8_vlen_string_type();
  hsize_t n = values.size();
  Handle space(H5Screate_simple(1, &n, nullptr));
  Handle attr = create_attribute(at, object, attribute, type.id(), space.id());
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  if (n) H5Awrite(attr.id(), type.id(), ptrs.data());
}

void write_int_array_attribute(const Location& at, const std::string& object, const std::string& attribute,
                               const std::vector<int64_t>& values) {
  hsize_t n = values.size();
  Handle space(H5Screate_simple(1, &n, nullptr));
  Handle attr = create_attribute(at, object, attribute, H5T_STD_I64LE, space.id());
  if (n) H5Awrite(attr.id(), H5T_NATIVE_INT64, values.data());
}

void write_bool_attribute(const Location& at, const std::string& object, const std::string& attribute, bool value) {
  Handle type = bool_enum_type();
  Handle space(H5Screate(H5S_SCALAR));
  Handle attr = create_attribute(at, object, attribute, type.id(), space.id());
  int8_t v = value ? 1 : 0;
  H5Awrite(attr.id(), type.id(), &v);
}

std::string library_version() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  return fmt::format("{}.{}.{}", major, minor, release);
}

}  // namespace marrow::h5
