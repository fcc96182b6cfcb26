#include "marrow/core/error.hpp"
#include "marrow/data/csr_matrix.hpp"
#include "support.hpp"

namespace marrow {
namespace {

CsrMatrix fixture_matrix() {
  auto values = test::fixture_dense();
  return CsrMatrix::from_dense(6, 5, values.data());
}

TEST(CsrMatrix, DenseRoundTrip) {
  CsrMatrix m = fixture_matrix();
  EXPECT_EQ(m.nnz(), 14);
  EXPECT_NO_THROW(m.validate());
  EXPECT_EQ(test::dense(m), test::fixture_dense());
}

TEST(CsrMatrix, TransposeTwiceIsIdentity) {
  CsrMatrix m = fixture_matrix();
  CsrMatrix t = m.transpose();
  EXPECT_EQ(t.rows, 5);
  EXPECT_EQ(t.cols, 6);
  CsrMatrix back = t.transpose();
  EXPECT_EQ(test::dense(back), test::fixture_dense());
}

TEST(CsrMatrix, FromCscMatchesDense) {
  CsrMatrix t = fixture_matrix().transpose();  // CSR of the transpose = CSC of the original
  CsrMatrix m = CsrMatrix::from_csc(6, 5, t.indptr, t.indices, t.data);
  EXPECT_EQ(test::dense(m), test::fixture_dense());
}

TEST(CsrMatrix, SelectRowsAndRemapColumns) {
  CsrMatrix m = fixture_matrix();
  std::vector<int64_t> rows = {4, 0};
  CsrMatrix s = m.select_rows(rows);
  EXPECT_EQ(test::dense(s), (std::vector<float>{0, 7, 0, 0, 2, 0, 1, 0, 3, 0}));
  // Reverse the columns and drop the middle one.
  std::vector<int32_t> map = {3, 2, -1, 1, 0};
  CsrMatrix r = s.remap_columns(map, 4);
  EXPECT_EQ(test::dense(r), (std::vector<float>{2, 0, 7, 0, 0, 3, 1, 0}));
  EXPECT_NO_THROW(r.validate());
}

TEST(CsrMatrix, SumsAndCounts) {
  CsrMatrix m = fixture_matrix();
  EXPECT_EQ(m.row_sums(), (std::vector<double>{4, 3, 5, 5, 9, 10}));
  EXPECT_EQ(m.col_sums(), (std::vector<double>{7, 9, 6, 10, 4}));
  EXPECT_EQ(m.row_nnz_counts(), (std::vector<int64_t>{2, 2, 1, 5, 2, 2}));
  EXPECT_EQ(m.col_nnz_counts(), (std::vector<int64_t>{3, 3, 2, 3, 3}));
}

TEST(CsrMatrix, ValidateRejectsInconsistentArrays) {
  CsrMatrix m = fixture_matrix();
  m.indices[3] = 9;
  EXPECT_THROW(m.validate(), Error);
  m = fixture_matrix();
  m.indptr[2] = 1;  // decreasing offsets
  EXPECT_THROW(m.validate(), Error);
  m = fixture_matrix();
  m.data.pop_back();
  EXPECT_THROW(m.validate(), Error);
}

}  // namespace
}  // namespace marrow
