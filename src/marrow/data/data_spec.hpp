#pragma once
// Which cells of which file a command reads, as the user named them: the input (an .h5ad, a 10x
// .h5 or a 10x matrix directory), the matrix of an .h5ad, a label table joined on barcode and a
// cell selection. Plain strings, resolved by io/ and data/selection.hpp when the cells are read.
#include <string>

namespace marrow {

struct DataSpec {
  std::string path;
  std::string matrix = "X";
  std::string labels;  // CSV/TSV joined on barcode
  std::string cells;   // selection, e.g. "cell_type=HSC,Prog;condition=AML"
};

}  // namespace marrow
