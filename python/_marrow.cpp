// marrow._marrow: the native half of the Python package. It adds nothing to what marrow does; it
// lets Python run marrow's own commands (app/: the same option table, defaults, checks and
// messages as the CLI) on AnnData objects in memory:
// - register_dataset(): an AnnData's matrix, obs, var and obsm become the dataset "memory:NAME"
//   that every command reads as if it were a file (io/memory.hpp);
// - run(args): one command line, parsed and run as `marrow ARGS...` would, with the GIL released;
//   returns (exit status, error message, the command's result as JSON text);
// - take_output(): what a command wrote to "--out memory:NAME" (obsm, varm, obs columns, uns);
// - set_progress()/set_log(): training progress and log lines go to Python callables instead of the
//   terminal; a progress callback raising (Ctrl-C) stops the run, the last checkpoint intact.
// The Python modules (marrow/__init__.py ...) build the command lines from keyword arguments.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <mutex>
#include <sstream>

#include "cli.hpp"
#include "marrow/core/error.hpp"
#include "marrow/core/version.hpp"
#include "marrow/io/memory.hpp"
#include "marrow/runtime/torch_runtime.hpp"
#include "marrow/train/progress.hpp"

namespace py = pybind11;

namespace {

using namespace marrow;

template <typename T>
using Array = py::array_t<T, py::array::c_style | py::array::forcecast>;

template <typename T>
std::vector<T> to_vector(const Array<T>& a) {
  return std::vector<T>(a.data(), a.data() + a.size());
}

// One obs column as Python hands it: (name, kind, values, categories, ordered).
Column column_from(const py::tuple& t) {
  auto name = t[0].cast<std::string>();
  auto kind = t[1].cast<std::string>();
  if (kind == "categorical") {
    Column c;
    c.name = name;
    c.kind = ColumnKind::Categorical;
    c.codes = to_vector(t[2].cast<Array<int32_t>>());
    c.categories = t[3].cast<std::vector<std::string>>();
    c.ordered = t[4].cast<bool>();
    for (int32_t code : c.codes)
      if (code < -1 || code >= static_cast<int32_t>(c.categories.size()))
        throw py::value_error("obs['" + name + "']: a category code is out of range");
    return c;
  }
  if (kind == "float") return Column::make_floats(name, to_vector(t[2].cast<Array<double>>()));
  if (kind == "int") return Column::make_ints(name, to_vector(t[2].cast<Array<int64_t>>()));
  if (kind == "bool") return Column::make_bools(name, to_vector(t[2].cast<Array<uint8_t>>()));
  if (kind == "string") return Column::make_strings(name, t[2].cast<std::vector<std::string>>());
  throw py::value_error("obs['" + name + "']: unknown column kind " + kind);
}

DataFrame frame_from(std::vector<std::string> index, const py::list& columns) {
  DataFrame frame;
  frame.index = std::move(index);
  for (const auto& item : columns) {
    Column c = column_from(item.cast<py::tuple>());
    if (c.size() != frame.rows()) throw py::value_error("obs['" + c.name + "'] has a different length than obs_names");
    frame.columns.push_back(std::move(c));
  }
  return frame;
}

DenseMatrix dense_from(const Array<float>& a) {
  if (a.ndim() != 2) throw py::value_error("expected a 2-d array");
  return DenseMatrix{a.shape(0), a.shape(1), to_vector(a)};
}

py::array_t<float> to_numpy(const DenseMatrix& m) {
  py::array_t<float> out({m.rows, m.cols});
  std::copy(m.values.begin(), m.values.end(), out.mutable_data());
  return out;
}

py::tuple column_to_python(const Column& c) {
  switch (c.kind) {
    case ColumnKind::Categorical: return py::make_tuple(c.name, "categorical", py::array_t<int32_t>(c.codes.size(), c.codes.data()), c.categories, c.ordered);
    case ColumnKind::Float: return py::make_tuple(c.name, "float", py::array_t<double>(c.floats.size(), c.floats.data()), py::none(), false);
    case ColumnKind::Int: return py::make_tuple(c.name, "int", py::array_t<int64_t>(c.ints.size(), c.ints.data()), py::none(), false);
    case ColumnKind::Bool: return py::make_tuple(c.name, "bool", py::array_t<uint8_t>(c.bools.size(), c.bools.data()), py::none(), false);
    case ColumnKind::String: return py::make_tuple(c.name, "string", c.strings, py::none(), false);
  }
  return py::make_tuple();
}

// X from CSR parts (scipy's, converted to int64/int32/float32 in the one copy made here), or dense.
CsrMatrix csr_from(const py::object& x, int64_t rows, int64_t cols) {
  if (py::isinstance<py::tuple>(x)) {
    auto parts = x.cast<py::tuple>();
    CsrMatrix m;
    m.rows = rows;
    m.cols = cols;
    m.indptr = to_vector(parts[0].cast<Array<int64_t>>());
    m.indices = to_vector(parts[1].cast<Array<int32_t>>());
    m.data = to_vector(parts[2].cast<Array<float>>());
    return m;
  }
  auto dense = x.cast<Array<float>>();
  if (dense.ndim() != 2 || dense.shape(0) != rows || dense.shape(1) != cols) throw py::value_error("X: shape does not match obs x var");
  return CsrMatrix::from_dense(rows, cols, dense.data());
}

std::string register_dataset(const std::string& name, const py::object& x, int64_t rows, int64_t cols,
                             std::vector<std::string> obs_names, const py::list& obs_columns, std::vector<std::string> var_names,
                             const py::dict& obsm) {
  auto data = std::make_shared<AnnData>();
  data->X = csr_from(x, rows, cols);
  data->obs = frame_from(std::move(obs_names), obs_columns);
  data->var.index = std::move(var_names);
  for (const auto& [key, value] : obsm) data->obsm[key.cast<std::string>()] = dense_from(value.cast<Array<float>>());
  data->matrix_source = "X";
  {
    py::gil_scoped_release release;
    data->X.sort_indices();
    data->X.validate();  // marrow::Error: ValueError with the reader's message
  }
  if (static_cast<int64_t>(data->obs.rows()) != rows || static_cast<int64_t>(data->var.rows()) != cols)
    throw py::value_error("obs_names/var_names do not match the shape of X");
  for (const auto& [key, m] : data->obsm)
    if (m.rows != rows) throw py::value_error("obsm['" + key + "'] has a different number of rows than X");
  return io::register_memory_dataset(name, std::move(data));
}

py::dict take_output(const std::string& path) {
  py::dict out;
  std::optional<io::MemoryOutput> output = io::take_memory_output(path);
  if (!output) return out;
  const io::H5adAdditions* additions = &output->additions;
  py::dict obsm, varm;
  for (const auto& [key, m] : additions->obsm) obsm[py::str(key)] = to_numpy(m);
  for (const auto& [key, m] : additions->varm) varm[py::str(key)] = to_numpy(m);
  py::list obs;
  for (const Column& c : additions->obs_columns) obs.append(column_to_python(c));
  out["obsm"] = obsm;
  out["varm"] = varm;
  out["obs"] = obs;
  out["uns"] = additions->uns.dump();
  out["obs_names"] = output->obs_names;
  out["var_names"] = output->var_names;
  return out;
}

// Set by the progress observer when Python raised in it (Ctrl-C: KeyboardInterrupt); run() raises
// it again once the command has unwound.
struct PythonRaised {
  bool raised = false, keyboard_interrupt = false;
  std::string message;
};
PythonRaised python_raised;
struct Interrupted : std::exception {
  const char* what() const noexcept override { return "interrupted from Python"; }
};

void set_progress(py::object callback) {
  if (callback.is_none()) return train::set_progress_observer({});
  auto shared = std::make_shared<py::object>(std::move(callback));
  train::set_progress_observer([shared](const train::ProgressEvent& e) {
    py::gil_scoped_acquire gil;
    try {
      (*shared)(e.label, e.epoch, e.total_epochs, e.cells_done, e.cells_per_epoch, e.loss, e.validation_loss, e.epoch_end);
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    } catch (py::error_already_set& error) {
      python_raised = {true, error.matches(PyExc_KeyboardInterrupt), error.what()};
      throw Interrupted();
    }
  });
}

// Log lines go to a Python callable (level name, message) while one is set.
class PythonSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit PythonSink(py::object callback) : callback_(std::move(callback)) {}
  ~PythonSink() override {
    if (!Py_IsInitialized()) {
      callback_.release();  // the interpreter is gone: nothing to release the reference to
      return;
    }
    py::gil_scoped_acquire gil;
    callback_ = py::object();
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    py::gil_scoped_acquire gil;
    callback_(std::string(spdlog::level::to_string_view(msg.level).data()), std::string(msg.payload.data(), msg.payload.size()));
  }
  void flush_() override {}

 private:
  py::object callback_;
};

// Log lines to a Python callable, or (None) back to standard error. Python calls set_log(None) at
// exit, so that no logger holding a Python object outlives the interpreter.
void set_log(py::object callback) {
  spdlog::drop("marrow");
  if (callback.is_none()) return cli::use_marrow_logger();
  auto logger = std::make_shared<spdlog::logger>("marrow", std::make_shared<PythonSink>(std::move(callback)));
  spdlog::register_logger(logger);
  spdlog::set_default_logger(logger);
}

// One command line, run as the CLI runs it. Only one runs at a time (the registry of results, the
// logger and the progress observer are process-wide).
py::tuple run(std::vector<std::string> args) {
  static std::mutex one_at_a_time;
  std::string error;
  int code = 0;
  nlohmann::json result;
  {
    py::gil_scoped_release release;
    std::lock_guard lock(one_at_a_time);
    python_raised = {};
    std::vector<std::string> argv_strings{"marrow"};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : argv_strings) argv.push_back(s.data());
    // What a command prints for a terminal (its result, returned here instead) is dropped.
    std::ostringstream printed;
    std::streambuf* terminal = std::cout.rdbuf(printed.rdbuf());
    code = cli::run(static_cast<int>(argv.size()), argv.data(), cli::torch_program_commands(),
                    [](int threads) { runtime::configure_threads(threads); }, &error);
    std::cout.rdbuf(terminal);
    result = cli::take_result();
  }
  if (python_raised.raised) {
    if (python_raised.keyboard_interrupt) {
      PyErr_SetNone(PyExc_KeyboardInterrupt);
      throw py::error_already_set();
    }
    throw std::runtime_error("progress callback failed: " + python_raised.message);
  }
  return py::make_tuple(code, error, result.is_null() ? std::string() : result.dump());
}

// The options of one command (path: ["pretrain", "ae"]), as its registration declares them: for
// each, (long names, whether it is a flag, help, default). Python builds command lines and
// docstrings from this, so it has no option table of its own.
py::list describe(const std::vector<std::string>& path) {
  CLI::App app;
  for (cli::Registration add : cli::torch_program_commands()) add(app);
  CLI::App* command = &app;
  for (const std::string& name : path) {
    CLI::App* found = nullptr;
    for (CLI::App* sub : command->get_subcommands([](CLI::App*) { return true; }))
      if (sub->get_name() == name) found = sub;
    if (!found) throw py::value_error("no command 'marrow " + name + "'");
    command = found;
  }
  py::list out;
  for (const CLI::Option* option : command->get_options()) {
    if (option->get_lnames().empty()) continue;  // --help is -h/--help: kept; positional ones are not options
    out.append(py::make_tuple(option->get_lnames(), option->get_expected_min() == 0, option->get_description(),
                              option->get_default_str(), option->get_required()));
  }
  return out;
}

}  // namespace

PYBIND11_MODULE(_marrow, m) {
  m.doc() = "Native half of the marrow package; use the functions of `marrow` instead.";
  m.attr("__version__") = marrow::kVersion;
  // marrow's own errors (bad input, as the CLI reports with exit 2) are ValueError here.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const marrow::Error& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });
  m.def("register_dataset", &register_dataset, "Registers an AnnData's parts as memory:NAME");
  m.def("release", &io::release_memory, "Forgets a memory: dataset or output");
  m.def("take_output", &take_output, "What a command wrote to --out memory:NAME");
  m.def("run", &run, "Runs one marrow command line; (status, error, result JSON)");
  m.def("describe", &describe, "The options of one command");
  m.def("set_progress", &set_progress, py::arg("callback").none(true));
  m.def("set_log", &set_log, py::arg("callback").none(true));
}
