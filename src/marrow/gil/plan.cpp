#include "marrow/gil/plan.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/error.hpp"
#include "marrow/core/random.hpp"
#include "marrow/core/strings.hpp"
#include "marrow/preprocess/gene_tokens.hpp"
#include "marrow/preprocess/markers.hpp"

namespace marrow::gil {

namespace {

std::vector<std::string> names_of(const std::vector<std::string>& all, const std::vector<int64_t>& rows) {
  std::vector<std::string> out;
  out.reserve(rows.size());
  for (int64_t r : rows) out.push_back(all[static_cast<size_t>(r)]);
  return out;
}

// Per gene of `data`: how many of `rows` have a nonzero count.
std::vector<int64_t> expressing_cells(const AnnData& data, const std::vector<int64_t>& rows) {
  std::vector<int64_t> n(static_cast<size_t>(data.n_genes()), 0);
  for (int64_t r : rows)
    for (int64_t k = data.X.indptr[r]; k < data.X.indptr[r + 1]; ++k) n[data.X.indices[k]] += data.X.data[k] > 0;
  return n;
}

// Splits `rows` (shuffled with the seed) into consecutive parts of the given shares.
std::vector<std::vector<int64_t>> share_out(std::vector<int64_t> rows, const std::vector<double>& shares, uint64_t seed) {
  Rng rng(seed);
  shuffle(rows, rng);
  double total = std::accumulate(shares.begin(), shares.end(), 0.0);
  std::vector<std::vector<int64_t>> parts(shares.size());
  double cumulative = 0;
  size_t start = 0;
  for (size_t s = 0; s < shares.size(); ++s) {
    cumulative += shares[s];
    size_t end = s + 1 == shares.size() ? rows.size() : static_cast<size_t>(std::llround(cumulative / total * static_cast<double>(rows.size())));
    parts[s].assign(rows.begin() + static_cast<std::ptrdiff_t>(start), rows.begin() + static_cast<std::ptrdiff_t>(end));
    std::sort(parts[s].begin(), parts[s].end());
    start = end;
  }
  return parts;
}

}  // namespace

void StagePlan::validate(const std::string& source) const {
  if (stages.empty()) fail("{}: the plan has no stages", source);
  if (holdout.empty()) fail("{}: the plan has no held-out cells (\"holdout\": one list per file)", source);
  std::unordered_map<std::string, std::string> owner;  // gene -> "base" or stage name
  for (const auto& g : base_genes)
    if (!owner.emplace(g, "the base genes").second) fail("{}: base gene '{}' is listed twice", source, g);
  for (size_t k = 0; k < stages.size(); ++k) {
    const Stage& s = stages[k];
    if (s.file < 0 || s.file >= static_cast<int>(holdout.size()))
      fail("{}: stage '{}' names file {}, but the plan has held-out cells for {} file(s)", source, s.name, s.file, holdout.size());
    if (k > 0 && s.genes.empty()) fail("{}: stage {} ('{}') has no genes of its own; every stage after the first needs some", source, k, s.name);
    if (s.cells.empty()) fail("{}: stage {} ('{}') has no cells", source, k, s.name);
    for (const auto& g : s.genes) {
      auto [it, fresh] = owner.emplace(g, "stage '" + s.name + "'");
      if (!fresh) fail("{}: gene '{}' of stage '{}' is already in {}; stage gene sets must be disjoint from each other and from the base", source, g,
                       s.name, it->second);
    }
  }
  if (base_genes.empty() && stages[0].genes.empty()) fail("{}: the base stage has no genes (no base genes and no genes of its own)", source);
  for (size_t f = 0; f < holdout.size(); ++f) {
    std::unordered_map<std::string, std::string> seen;
    for (const auto& c : holdout[f]) seen.emplace(c, "the held-out cells");
    for (const Stage& s : stages) {
      if (s.file != static_cast<int>(f)) continue;
      for (const auto& c : s.cells) {
        auto [it, fresh] = seen.emplace(c, "stage '" + s.name + "'");
        if (!fresh) fail("{}: cell '{}' of stage '{}' is also in {}", source, c, s.name, it->second);
      }
    }
  }
}

nlohmann::json StagePlan::to_json() const {
  nlohmann::json j = {{"format", "marrow-gil-plan"}, {"version", 1}, {"spec", spec}, {"files", files}, {"base_genes", base_genes},
                      {"holdout", holdout}};
  j["stages"] = nlohmann::json::array();
  for (const Stage& s : stages) {
    nlohmann::json js = {{"name", s.name}, {"file", s.file}, {"genes", s.genes}, {"cells", s.cells}};
    if (s.task) js["task"] = {{"column", s.task->column}, {"classes", s.task->classes}};
    j["stages"].push_back(js);
  }
  return j;
}

StagePlan StagePlan::from_json(const nlohmann::json& j, const std::string& source) {
  StagePlan p;
  try {
    p.spec = j.value("spec", "");
    p.files = j.value("files", std::vector<std::string>{});
    p.base_genes = j.at("base_genes").get<std::vector<std::string>>();
    p.holdout = j.at("holdout").get<std::vector<std::vector<std::string>>>();
    for (const auto& js : j.at("stages")) {
      Stage s;
      s.name = js.at("name").get<std::string>();
      s.file = js.value("file", 0);
      s.genes = js.at("genes").get<std::vector<std::string>>();
      s.cells = js.at("cells").get<std::vector<std::string>>();
      if (js.contains("task"))
        s.task = ProbeTask{js.at("task").at("column").get<std::string>(), js.at("task").value("classes", std::vector<std::string>{})};
      p.stages.push_back(std::move(s));
    }
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not a stage plan ({}); expected base_genes, holdout and stages with name, genes and cells", source, e.what());
  }
  p.validate(source);
  return p;
}

StagePlan read_plan(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("cannot open plan '{}'", path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", path, e.what());
  }
  return StagePlan::from_json(j, path);
}

void write_plan(const StagePlan& plan, const std::string& path) { write_file_atomic(path, plan.to_json().dump(1) + "\n"); }

namespace {

// A plan spec, parsed once: random, markers:COLUMN or panels.
struct PlanSpec {
  enum class Kind { Random, Markers, Panels } kind = Kind::Random;
  std::string column;  // markers
};

PlanSpec parse_spec(const std::string& spec) {
  if (spec == "random") return {};
  if (spec == "panels") return {PlanSpec::Kind::Panels, ""};
  if (spec.rfind("markers:", 0) == 0) return {PlanSpec::Kind::Markers, spec.substr(8)};
  fail("--auto-plan must be random, markers:COLUMN or panels, got '{}'", spec);
}

// Fills plan.holdout with each file's test part and returns each file's training rows (sorted; a
// seeded sample of max_cells where asked).
std::vector<std::vector<int64_t>> hold_out(const std::vector<const AnnData*>& files, const std::vector<std::string>& paths, const PlanOptions& o,
                                           StagePlan& plan) {
  std::vector<std::vector<int64_t>> train_rows(files.size());
  for (size_t f = 0; f < files.size(); ++f) {
    SplitChoice choice = o.holdout;
    choice.validation_fraction = 0;
    if (choice.spec.empty() && choice.file.empty()) choice.spec = "random";
    Parts parts = resolve_parts(files[f]->obs, choice, paths[f]);
    if (parts.test.empty()) fail("{}: the split holds out no cells of this file; every file needs held-out cells for evaluation", paths[f]);
    std::vector<int64_t> rows = parts.train;
    rows.insert(rows.end(), parts.validation.begin(), parts.validation.end());
    std::sort(rows.begin(), rows.end());
    if (o.max_cells > 0 && static_cast<int64_t>(rows.size()) > o.max_cells) {
      std::vector<int64_t> keep = sample_indices(static_cast<int64_t>(rows.size()), o.max_cells, o.holdout.seed + 7 + f);
      std::vector<int64_t> sampled;
      for (int64_t i : keep) sampled.push_back(rows[static_cast<size_t>(i)]);
      rows = std::move(sampled);
    }
    train_rows[f] = rows;
    plan.holdout.push_back(names_of(files[f]->cell_names(), parts.test));
  }
  return train_rows;
}

// Per gene of `data`: expressed in at least min_cells of the training rows.
std::vector<uint8_t> kept_genes(const AnnData& data, const std::vector<int64_t>& train_rows, int64_t min_cells) {
  std::vector<int64_t> n = expressing_cells(data, train_rows);
  std::vector<uint8_t> keep(n.size());
  for (size_t g = 0; g < n.size(); ++g) keep[g] = n[g] >= min_cells;
  return keep;
}

// panels: B = the genes every file measured (and file 0 expresses enough); stage k = file k, its
// other kept genes (first come first served) and its training cells.
void add_panel_stages(StagePlan& plan, const std::vector<const AnnData*>& files, const std::vector<std::string>& paths,
                      const std::vector<std::vector<int64_t>>& train_rows, const PlanOptions& o) {
  std::vector<std::unordered_set<std::string>> measured(files.size());
  std::vector<std::vector<std::string>> kept(files.size());
  for (size_t f = 0; f < files.size(); ++f) {
    std::vector<uint8_t> keep = kept_genes(*files[f], train_rows[f], o.min_cells);
    for (size_t g = 0; g < keep.size(); ++g) {
      measured[f].insert(files[f]->gene_names()[g]);
      if (keep[g]) kept[f].push_back(files[f]->gene_names()[g]);
    }
  }
  std::unordered_set<std::string> taken;
  for (const auto& g : kept[0]) {
    bool everywhere = true;
    for (size_t f = 1; f < files.size() && everywhere; ++f) everywhere = measured[f].count(g) > 0;
    if (everywhere) taken.insert(g), plan.base_genes.push_back(g);
  }
  if (plan.base_genes.empty()) fail("--auto-plan panels: the files share no gene");
  for (size_t f = 0; f < files.size(); ++f) {
    Stage s;
    s.name = std::filesystem::path(paths[f]).stem().string();
    if (s.name.empty() || s.name == "matrix") s.name = std::filesystem::path(paths[f]).parent_path().filename().string();
    s.file = static_cast<int>(f);
    for (const auto& g : kept[f])
      if (taken.insert(g).second) s.genes.push_back(g);
    s.cells = names_of(files[f]->cell_names(), train_rows[f]);
    plan.stages.push_back(std::move(s));
  }
}

// markers: per --stage-classes group, the genes that best separate its classes (not taken by an
// earlier group, nor excluded: not kept).
std::vector<std::vector<int32_t>> marker_stage_genes(const AnnData& data, const std::vector<int64_t>& train_rows, const std::vector<uint8_t>& keep,
                                                     const std::string& column, const PlanOptions& o) {
  const Column& labels = data.obs.require(column);
  if (o.stage_classes.empty()) fail("--auto-plan markers:{} needs --stage-classes (one list of {} classes per new stage)", column, column);
  preprocess::TokenCells tokens = preprocess::tokenize(data.select_cells(train_rows), GeneVocabulary(data.gene_names()));
  std::vector<uint8_t> excluded(keep.size());
  for (size_t g = 0; g < keep.size(); ++g) excluded[g] = !keep[g];
  std::vector<std::vector<int32_t>> stage_genes;
  for (const auto& group : o.stage_classes) {
    std::vector<int> cls(train_rows.size(), -1);
    std::vector<int64_t> per_class(group.size(), 0);
    for (size_t i = 0; i < train_rows.size(); ++i) {
      size_t r = static_cast<size_t>(train_rows[i]);
      if (labels.is_missing(r)) continue;
      auto it = std::find(group.begin(), group.end(), labels.text(r));
      if (it != group.end()) cls[i] = static_cast<int>(it - group.begin()), ++per_class[cls[i]];
    }
    for (size_t c = 0; c < group.size(); ++c)
      if (per_class[c] < 2) fail("--stage-classes: class '{}' of {} has {} training cells; each class needs at least 2", group[c], column, per_class[c]);
    auto ranked = preprocess::rank_markers(tokens.values, cls, static_cast<int>(group.size()));
    std::vector<int32_t> genes = preprocess::separating_genes(ranked, o.genes_per_stage, excluded);
    if (genes.empty()) fail("--stage-classes {}: no gene separates these classes", join_limited(group));
    for (int32_t g : genes) excluded[g] = 1;
    stage_genes.push_back(genes);
  }
  return stage_genes;
}

// random: a base_ratio share of the kept genes (shuffled) is base, written to `base`; the rest split
// evenly into o.stages sets.
std::vector<std::vector<int32_t>> random_stage_genes(const std::vector<uint8_t>& keep, const PlanOptions& o, std::vector<int32_t>& base) {
  if (o.stages < 1) fail("--stages must be at least 1, got {}", o.stages);
  std::vector<int32_t> genes;
  for (size_t g = 0; g < keep.size(); ++g)
    if (keep[g]) genes.push_back(static_cast<int32_t>(g));
  Rng rng(o.holdout.seed + 11);
  shuffle(genes, rng);
  size_t n_base = static_cast<size_t>(std::llround(o.base_ratio * static_cast<double>(genes.size())));
  base.assign(genes.begin(), genes.begin() + static_cast<std::ptrdiff_t>(n_base));
  std::sort(base.begin(), base.end());
  size_t rest = genes.size() - n_base;
  std::vector<std::vector<int32_t>> stage_genes;
  for (int s = 0; s < o.stages; ++s) {
    size_t a = n_base + rest * static_cast<size_t>(s) / static_cast<size_t>(o.stages);
    size_t b = n_base + rest * static_cast<size_t>(s + 1) / static_cast<size_t>(o.stages);
    std::vector<int32_t> part(genes.begin() + static_cast<std::ptrdiff_t>(a), genes.begin() + static_cast<std::ptrdiff_t>(b));
    std::sort(part.begin(), part.end());
    stage_genes.push_back(part);
  }
  return stage_genes;
}

// One file: a base stage and one stage per gene set, the training cells shared out by cell_shares
// (default 0.5 for the base stage, the rest even); markers stages probe their classes.
void add_single_file_stages(StagePlan& plan, const AnnData& data, const std::vector<int64_t>& train_rows,
                            const std::vector<std::vector<int32_t>>& stage_genes, const PlanSpec& spec, const PlanOptions& o) {
  const size_t n_stages = stage_genes.size() + 1;
  std::vector<double> shares = o.cell_shares;
  if (shares.empty()) {
    shares.push_back(0.5);
    for (size_t s = 1; s < n_stages; ++s) shares.push_back(0.5 / static_cast<double>(n_stages - 1));
  }
  if (shares.size() != n_stages) fail("--cell-shares: {} shares for {} stages", shares.size(), n_stages);
  for (double s : shares)
    if (s <= 0) fail("--cell-shares must be positive");
  auto parts = share_out(train_rows, shares, o.holdout.seed + 13);
  for (size_t s = 0; s < n_stages; ++s) {
    Stage stage;
    stage.name = s == 0 ? "base" : fmt::format("stage{}", s);
    if (s > 0)
      for (int32_t g : stage_genes[s - 1]) stage.genes.push_back(data.gene_names()[g]);
    stage.cells = names_of(data.cell_names(), parts[s]);
    if (spec.kind == PlanSpec::Kind::Markers && s > 0) stage.task = ProbeTask{spec.column, o.stage_classes[s - 1]};
    plan.stages.push_back(std::move(stage));
  }
}

// random and markers on one file: the stage gene sets, the base genes (markers: every other kept
// gene) and the stages.
void add_gene_set_stages(StagePlan& plan, const AnnData& data, const std::vector<int64_t>& train_rows, const PlanSpec& spec, const PlanOptions& o) {
  std::vector<uint8_t> keep = kept_genes(data, train_rows, o.min_cells);
  std::vector<std::vector<int32_t>> stage_genes;
  if (spec.kind == PlanSpec::Kind::Markers) {
    stage_genes = marker_stage_genes(data, train_rows, keep, spec.column, o);
    std::set<int32_t> staged;
    for (const auto& s : stage_genes) staged.insert(s.begin(), s.end());
    for (size_t g = 0; g < keep.size(); ++g)
      if (keep[g] && !staged.count(static_cast<int32_t>(g))) plan.base_genes.push_back(data.gene_names()[g]);
  } else {
    std::vector<int32_t> base;
    stage_genes = random_stage_genes(keep, o, base);
    for (int32_t g : base) plan.base_genes.push_back(data.gene_names()[g]);
  }
  add_single_file_stages(plan, data, train_rows, stage_genes, spec, o);
}

}  // namespace

StagePlan build_plan(const std::vector<const AnnData*>& files, const std::vector<std::string>& paths, const PlanOptions& o) {
  if (files.empty()) fail("gil plan: give at least one --data file");
  const PlanSpec spec = parse_spec(o.spec);
  const bool panels = spec.kind == PlanSpec::Kind::Panels;
  if (panels && files.size() < 2) fail("--auto-plan panels needs two or more --data files (one panel each)");
  if (!panels && files.size() != 1) fail("--auto-plan {} takes one --data file ({} given); panels takes several", o.spec, files.size());
  if (o.base_ratio <= 0 || o.base_ratio >= 1) fail("--base-ratio must be in (0, 1), got {}", o.base_ratio);

  StagePlan plan;
  plan.spec = o.spec;
  plan.files = paths;
  std::vector<std::vector<int64_t>> train_rows = hold_out(files, paths, o, plan);
  if (panels) add_panel_stages(plan, files, paths, train_rows, o);
  else add_gene_set_stages(plan, *files[0], train_rows[0], spec, o);
  if (!o.probe_label.empty())
    for (Stage& s : plan.stages)
      if (!s.task) s.task = ProbeTask{o.probe_label, {}};
  plan.validate("gil plan");
  return plan;
}

void check_plan_against(const StagePlan& plan, const std::vector<const AnnData*>& files) {
  if (plan.holdout.size() != files.size())
    fail("the plan is for {} file(s) but {} --data file(s) were given", plan.holdout.size(), files.size());
  for (size_t f = 0; f < files.size(); ++f) {
    std::unordered_set<std::string> cells(files[f]->cell_names().begin(), files[f]->cell_names().end());
    std::unordered_set<std::string> genes(files[f]->gene_names().begin(), files[f]->gene_names().end());
    auto check_cells = [&](const std::vector<std::string>& names, const std::string& what) {
      for (const auto& c : names)
        if (!cells.count(c)) fail("{}: cell '{}' of {} is not in the file", files[f]->source, c, what);
    };
    check_cells(plan.holdout[f], "the held-out cells");
    for (const Stage& s : plan.stages) {
      if (s.file != static_cast<int>(f)) continue;
      check_cells(s.cells, "stage '" + s.name + "'");
      for (const auto* set : {&plan.base_genes, &s.genes})
        for (const auto& g : *set)
          if (!genes.count(g)) fail("{}: gene '{}' of stage '{}' (or the base genes) is not measured in this file", files[f]->source, g, s.name);
    }
    for (const Stage& s : plan.stages)
      if (s.task && s.file == static_cast<int>(f)) files[f]->obs.require(s.task->column);
  }
}

}  // namespace marrow::gil
