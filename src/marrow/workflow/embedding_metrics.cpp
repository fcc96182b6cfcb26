// `marrow embedding-metrics`: kNN accuracy and the adjusted Rand index of k-means clusters, for an
// obsm embedding or the PCA baseline, on the cells of a split.
#include <spdlog/spdlog.h>

#include "marrow/core/error.hpp"
#include "marrow/data/selection.hpp"
#include "marrow/eval/embedding_metrics.hpp"
#include "marrow/eval/metrics.hpp"
#include "marrow/workflow/classify.hpp"

namespace marrow::workflow {

nlohmann::json embedding_metrics(const EmbeddingMetricsOptions& o) {
  if (o.label.empty()) fail("embedding-metrics: --label is required");
  AnnData all = load_cells(o.data);
  const Column& column = all.obs.require(o.label);
  std::vector<int64_t> labelled = rows_with_value(column);
  if (labelled.empty()) fail("{}: no selected cell has a value in '{}'", o.data.path, o.label);
  AnnData data = all.select_cells(labelled);
  const Column& labels = data.obs.require(o.label);
  Parts parts = resolve_parts(data.obs, o.split, o.data.path);
  if (parts.test.empty()) fail("embedding-metrics: the split has no test part (use --split or --split-file)");
  std::vector<int64_t> train = parts.train;
  train.insert(train.end(), parts.validation.begin(), parts.validation.end());

  DenseMatrix x;
  if (o.embedding.is_baseline()) {
    x = baseline_embedding(data, train, o.embedding.kind, 3000, o.pca_components, o.split.seed);
  } else {
    auto it = data.obsm.find(o.embedding.obsm_key);
    if (it == data.obsm.end()) fail("{}: no obsm['{}'] (run marrow embed first, or use --embedding pca)", o.data.path, o.embedding.obsm_key);
    x = it->second;
  }
  // Classes: every label value (k-means uses their number), indexed in the column's order.
  std::vector<std::string> classes;
  for (const auto& [value, count] : labels.value_counts())
    if (count > 0) classes.push_back(value);
  if (classes.size() < 2)
    fail("{}: '{}' has one value ('{}') on all {} labelled cells: kNN accuracy and ARI need at least two classes",
         o.data.path, o.label, classes.empty() ? std::string() : classes.front(), data.n_cells());
  std::vector<int> y(static_cast<size_t>(data.n_cells()));
  for (int64_t i = 0; i < data.n_cells(); ++i)
    y[i] = static_cast<int>(std::find(classes.begin(), classes.end(), labels.text(i)) - classes.begin());

  std::vector<int> predicted = eval::knn_predict(x, y, train, parts.test, o.neighbours);
  std::vector<int> truth;
  for (int64_t r : parts.test) truth.push_back(y[r]);
  nlohmann::json knn = eval::classification_metrics(classes, truth, predicted, {});
  std::vector<int> clusters = eval::kmeans(x, static_cast<int>(classes.size()), o.split.seed);
  double ari = eval::adjusted_rand_index(clusters, y);
  spdlog::info("{} ({} dimensions): kNN accuracy {:.3f} on {} test cells, ARI {:.3f} of {} k-means clusters on {} cells",
               o.embedding.name(), x.cols, knn["accuracy"].get<double>(), parts.test.size(), ari, classes.size(), data.n_cells());
  return {{"embedding", o.embedding.name()}, {"dimensions", x.cols}, {"n_train", train.size()}, {"n_test", parts.test.size()},
          {"neighbours", o.neighbours}, {"knn", knn}, {"ari", ari}, {"clusters", classes.size()}};
}

}  // namespace marrow::workflow
