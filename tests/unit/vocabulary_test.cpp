#include <nlohmann/json.hpp>

#include "marrow/core/error.hpp"
#include "marrow/data/vocabulary.hpp"
#include "support.hpp"

namespace marrow {
namespace {

AnnData data_with_genes(std::vector<std::string> genes, std::vector<std::string> ids = {}) {
  AnnData a;
  a.var.index = std::move(genes);
  if (!ids.empty()) a.var.set(Column::make_strings("gene_ids", ids));
  a.obs.index = {"c0", "c1"};
  std::vector<float> dense;
  for (size_t r = 0; r < 2; ++r)
    for (size_t g = 0; g < a.var.index.size(); ++g) dense.push_back(static_cast<float>(10 * r + g + 1));
  a.X = CsrMatrix::from_dense(2, static_cast<int64_t>(a.var.index.size()), dense.data());
  return a;
}

TEST(Vocabulary, MissingZeroFilledExtraDropped) {
  GeneVocabulary vocab({"CD34", "GATA1", "MPO", "CD3E"});
  AnnData a = data_with_genes({"MPO", "XIST", "CD34"});  // GATA1, CD3E missing; XIST extra
  GeneAlignment al = vocab.align(a.var);
  EXPECT_EQ(al.matched, 2);
  EXPECT_DOUBLE_EQ(al.vocabulary_coverage(), 0.5);
  AnnData out = vocab.apply(a, al);
  EXPECT_EQ(out.var.index, vocab.genes());
  // cell 0: MPO=1, XIST=2 (dropped), CD34=3
  EXPECT_EQ(test::dense(out.X), (std::vector<float>{3, 0, 1, 0, 13, 0, 11, 0}));
}

TEST(Vocabulary, CaseInsensitiveAndEnsemblVersions) {
  GeneVocabulary vocab({"Cd34", "ENSG00000102145"});
  AnnData a = data_with_genes({"CD34", "GATA1"}, {"ENSG00000174059.17", "ENSG00000102145.14"});
  EXPECT_EQ(vocab.align(a.var).matched, 1);  // only the Ensembl id, version ignored
  AlignOptions ci;
  ci.case_insensitive = true;
  ci.var_column = "var_names";
  EXPECT_EQ(vocab.align(a.var, ci).matched, 1);  // Cd34 == CD34
  GeneVocabulary ids({"ENSG00000174059", "ENSG00000102145"});
  GeneAlignment al = ids.align(a.var);  // picks the var column that overlaps most
  EXPECT_EQ(al.matched, 2);
  EXPECT_EQ(al.matched_on, "gene_ids");
}

TEST(Vocabulary, ZeroOverlapIsAnError) {
  GeneVocabulary vocab({"CD34", "GATA1"});
  try {
    vocab.align(data_with_genes({"SIM1", "SIM2"}).var, {}, "new.h5ad");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("new.h5ad: no gene of the data matches"), std::string::npos) << e.what();
  }
}

TEST(Vocabulary, JsonRoundTrip) {
  GeneVocabulary vocab({"A", "B", "C"});
  EXPECT_EQ(GeneVocabulary::from_json(nlohmann::json::parse(vocab.to_json().dump())).genes(), vocab.genes());
}

}  // namespace
}  // namespace marrow
