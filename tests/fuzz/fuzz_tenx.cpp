// libFuzzer target: the 10x readers. The first byte picks the 10x HDF5 reader (even) or the Matrix
// Market directory reader (odd, the rest of the input is matrix.mtx beside fixed barcodes/genes).
#include "fuzz_input.hpp"
#include "marrow/io/tenx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if (data[0] % 2 == 0)
    return marrow::fuzz::run_reader(marrow::fuzz::write_input(data + 1, size - 1, ".h5"),
                                    [](const std::string& path) { marrow::io::read_10x_h5(path); });
  std::string dir = marrow::fuzz::write_input(data + 1, size - 1, "", "matrix.mtx");
  std::ofstream(dir + "/barcodes.tsv") << "AAAC-1\nAAAG-1\nAAAT-1\n";
  std::ofstream(dir + "/genes.tsv") << "G1\tA\nG2\tB\nG3\tC\nG4\tD\n";
  return marrow::fuzz::run_reader(dir, [](const std::string& path) { marrow::io::read_10x_mtx(path); });
}
