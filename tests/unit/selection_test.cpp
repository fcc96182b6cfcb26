#include "marrow/core/error.hpp"
#include "marrow/data/selection.hpp"
#include "support.hpp"

namespace marrow {
namespace {

DataFrame obs() {
  DataFrame f;
  f.index = {"a", "b", "c", "d", "e"};
  f.set(Column::make_categorical("cell_type", {"HSC", "Prog", "GMP", "HSC-like", "T"}));
  f.set(Column::make_categorical("condition", {"AML", "AML", "healthy", "AML", "healthy"}));
  f.set(Column::make_ints("n_genes", {100, 600, 800, 300, 1000}));
  f.set(Column::make_bools("flag", {1, 0, 1, 0, 1}));
  return f;
}

TEST(Selection, OneColumnManyValues) {
  EXPECT_EQ(select_rows(obs(), parse_selection("cell_type=HSC,Prog,GMP")), (std::vector<int64_t>{0, 1, 2}));
}

TEST(Selection, ConditionsCombine) {
  EXPECT_EQ(select_rows(obs(), parse_selection("cell_type=HSC,Prog,GMP;condition=AML")), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(select_rows(obs(), parse_selection("condition=AML & n_genes>=300")), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(select_rows(obs(), parse_selection("cell_type!=T,GMP; n_genes<700")), (std::vector<int64_t>{0, 1, 3}));
  EXPECT_EQ(select_rows(obs(), parse_selection("flag=true")), (std::vector<int64_t>{0, 2, 4}));
}

TEST(Selection, ClearErrors) {
  try {
    select_rows(obs(), parse_selection("celltype=HSC"), "data.h5ad");
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("unknown obs column 'celltype'"), std::string::npos) << m;
    EXPECT_NE(m.find("cell_type"), std::string::npos) << "lists the available columns: " << m;
  }
  EXPECT_THROW(select_rows(obs(), parse_selection("cell_type=Mono")), Error);  // matches nothing
  EXPECT_THROW(parse_selection("cell_type"), Error);
  EXPECT_THROW(parse_selection("cell_type="), Error);
  EXPECT_THROW(select_rows(obs(), parse_selection("cell_type>3")), Error);  // not numeric
}

}  // namespace
}  // namespace marrow
