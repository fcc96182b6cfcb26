#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "marrow/core/error.hpp"
#include "marrow/data/split.hpp"
#include "support.hpp"

namespace marrow {
namespace {

DataFrame cells(int n) {
  DataFrame f;
  std::vector<std::string> patient, label;
  for (int i = 0; i < n; ++i) {
    f.index.push_back("cell" + std::to_string(i));
    patient.push_back("P" + std::to_string(i % 7));
    label.push_back(i % 10 < 8 ? "common" : "rare");
  }
  f.set(Column::make_categorical("patient", patient));
  f.set(Column::make_categorical("label", label));
  return f;
}

TEST(Split, RandomIsSeededAndDisjoint) {
  DataFrame obs = cells(1000);
  SplitOptions o;
  o.seed = 3;
  o.validation_fraction = 0.1;
  Split a = make_split(obs, o), b = make_split(obs, o);
  EXPECT_EQ(a.test, b.test);
  EXPECT_EQ(a.test.size(), 300u);
  EXPECT_EQ(a.validation.size(), 70u);
  EXPECT_EQ(a.train.size(), 630u);
  std::set<std::string> all(a.train.begin(), a.train.end());
  all.insert(a.validation.begin(), a.validation.end());
  all.insert(a.test.begin(), a.test.end());
  EXPECT_EQ(all.size(), 1000u);
  o.seed = 4;
  EXPECT_NE(make_split(obs, o).test, a.test);
}

TEST(Split, StratifiedKeepsLabelShares) {
  DataFrame obs = cells(1000);
  SplitOptions o = parse_split_spec("stratified:label");
  Split s = make_split(obs, o);
  int rare = 0;
  for (int64_t r : s.rows(obs, "test")) rare += obs.require("label").text(r) == "rare";
  EXPECT_EQ(rare, 60);  // 30% of the 200 rare cells exactly
}

TEST(Split, GroupHoldsOutWholePatients) {
  DataFrame obs = cells(700);
  SplitOptions o = parse_split_spec("group:patient");
  o.seed = 1;
  Split s = make_split(obs, o);
  ASSERT_FALSE(s.test_groups.empty());
  std::set<std::string> test_patients, train_patients;
  for (int64_t r : s.rows(obs, "test")) test_patients.insert(obs.require("patient").text(r));
  for (int64_t r : s.rows(obs, "train")) train_patients.insert(obs.require("patient").text(r));
  for (const auto& p : test_patients) EXPECT_FALSE(train_patients.count(p)) << p << " is on both sides";
  EXPECT_EQ(test_patients, std::set<std::string>(s.test_groups.begin(), s.test_groups.end()));
  EXPECT_EQ(s.test_groups.size(), 2u);  // round(0.3 x 7 patients), as GroupShuffleSplit counts

  o.test_groups = {"P2", "P5"};
  Split fixed = make_split(obs, o);
  EXPECT_EQ(fixed.test.size(), 200u);
}

TEST(Split, GroupStratifiedKeepsEveryConditionOnBothSides) {
  DataFrame obs = cells(700);
  std::vector<std::string> condition;
  for (size_t i = 0; i < obs.rows(); ++i) condition.push_back(obs.require("patient").text(i) <= "P1" ? "healthy" : "AML");
  obs.set(Column::make_categorical("condition", condition));
  for (uint64_t seed = 0; seed < 20; ++seed) {
    SplitOptions o = parse_split_spec("group:patient");
    o.stratify = "condition";
    o.seed = seed;
    Split s = make_split(obs, o);
    std::set<std::string> test_conditions, train_conditions;
    for (int64_t r : s.rows(obs, "test")) test_conditions.insert(obs.require("condition").text(r));
    for (int64_t r : s.rows(obs, "train")) train_conditions.insert(obs.require("condition").text(r));
    EXPECT_EQ(test_conditions.size(), 2u) << "seed " << seed;
    EXPECT_EQ(train_conditions.size(), 2u) << "seed " << seed;
  }
}

TEST(Split, JsonRoundTrip) {
  DataFrame obs = cells(100);
  Split s = make_split(obs, parse_split_spec("group:patient"));
  Split back = Split::from_json(nlohmann::json::parse(s.to_json().dump()));
  EXPECT_EQ(back.train, s.train);
  EXPECT_EQ(back.test, s.test);
  EXPECT_EQ(back.test_groups, s.test_groups);
  EXPECT_EQ(back.rows(obs, "test"), s.rows(obs, "test"));
}

TEST(Split, BadOptions) {
  DataFrame obs = cells(100);
  EXPECT_THROW(parse_split_spec("patient"), Error);
  EXPECT_THROW(make_split(obs, parse_split_spec("group:donor")), Error);  // unknown column
  SplitOptions o;
  o.test_fraction = 1.5;
  EXPECT_THROW(make_split(obs, o), Error);
  o = parse_split_spec("group:patient");
  o.test_groups = {"P99"};
  EXPECT_THROW(make_split(obs, o), Error);
}

}  // namespace
}  // namespace marrow

#include "marrow/models/classifier_options.hpp"
#include "marrow/models/exceiver_options.hpp"
#include "marrow/preprocess/hvg.hpp"

namespace marrow {
namespace {

// Every name of a table parses back to its value, and fmt and JSON write the same name.
template <typename E>
void expect_round_trip() {
  for (const auto& [value, name] : EnumNames<E>::table) {
    EXPECT_EQ(parse_enum<E>(name), value) << name;
    EXPECT_EQ(fmt::format("{}", value), name);
    nlohmann::json j = value;
    EXPECT_EQ(j, nlohmann::json(name));
    EXPECT_EQ(j.get<E>(), value) << name;
  }
  EXPECT_THROW(parse_enum<E>("no-such-name"), Error);
  EXPECT_THROW(nlohmann::json("no-such-name").get<E>(), Error);
}

TEST(EnumNames, EveryTableRoundTripsAndRefusesUnknownNames) {
  expect_round_trip<models::Activation>();
  expect_round_trip<models::Norm>();
  expect_round_trip<models::ReconstructionLoss>();
  expect_round_trip<models::InputLayer>();
  expect_round_trip<models::Head>();
  expect_round_trip<models::ValueMode>();
  expect_round_trip<preprocess::HvgFlavor>();
  expect_round_trip<SplitKind>();
  // A subset: the others are refused, and listed choices are the subset's.
  const std::vector<models::Head> only{models::Head::Linear, models::Head::Mlp};
  EXPECT_EQ(parse_enum<models::Head>("mlp", only), models::Head::Mlp);
  EXPECT_THROW(parse_enum<models::Head>("gcn", only), Error);
  EXPECT_EQ(enum_choices<models::Head>(only), "linear or mlp");
}

TEST(EnumNames, OptionsFromModelFilesKeepTheirNames) {
  models::ClassifierOptions c;
  c.head = models::Head::Gcn;
  c.activation = models::Activation::Tanh;
  nlohmann::json j = c.to_json();
  EXPECT_EQ(j["head"], "gcn");
  EXPECT_EQ(j["activation"], "tanh");
  EXPECT_EQ(j["norm"], "layernorm");
  EXPECT_EQ(models::ClassifierOptions::from_json(j).head, models::Head::Gcn);
  j["norm"] = "groupnorm";
  EXPECT_THROW(models::ClassifierOptions::from_json(j), Error);
  EXPECT_EQ(parse_split_spec("group:patient").kind, SplitKind::Group);
  EXPECT_THROW(parse_split_spec("random:patient"), Error);
}

}  // namespace
}  // namespace marrow
