#pragma once
// Choices are types: every option that picks one of a fixed set of things (a head, a loss, a
// strategy) is an enum in the code and a name on the command line, in configs and in model files.
// One table per enum says both ways at once, so there is no parse/name switch pair per type:
//
//   enum class Head { Linear, Mlp };
//   template <> struct EnumNames<models::Head> {
//     static constexpr const char* what = "head";
//     static constexpr std::array<std::pair<models::Head, const char*>, 2> table{{
//         {models::Head::Linear, "linear"}, {models::Head::Mlp, "mlp"}}};
//   };
//
// then `enum_name(Head::Mlp)` is "mlp" and `parse_enum<Head>("mlp")` is Head::Mlp; an unknown name
// is a marrow::Error listing the valid ones ("unknown head 'x' (expected linear or mlp)"). The
// command line binds such options with cli::add_enum_option (app/cli.hpp), which parses once, at the
// edge. The same table serves fmt ("{}" of a Head prints its name) and nlohmann::json (a Head is
// written as its name and read with parse_enum), so options structs and model files hold names,
// never numbers. Torch-free and header-only.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "marrow/core/error.hpp"

namespace marrow {

// Specialise for each enum E with `what` (a noun for messages) and `table` (value, name) pairs.
template <typename E>
struct EnumNames;

// An enum with a name table.
template <typename E>
concept NamedEnum = std::is_enum_v<E> && requires { EnumNames<E>::table; };

template <typename E>
const char* enum_name(E value) {
  for (const auto& [v, name] : EnumNames<E>::table)
    if (v == value) return name;
  fail("{}: value {} has no name", EnumNames<E>::what, static_cast<int>(value));
}

// Every name of E in table order.
template <typename E>
std::vector<std::string> enum_names() {
  std::vector<std::string> names;
  for (const auto& entry : EnumNames<E>::table) names.emplace_back(entry.second);
  return names;
}

// "a, b or c": the valid names (of `only`, where given), in table order, for help texts and errors.
template <typename E>
std::string enum_choices(const std::vector<E>& only = {}) {
  std::vector<const char*> names;
  for (const auto& [value, name] : EnumNames<E>::table)
    if (only.empty() || std::find(only.begin(), only.end(), value) != only.end()) names.push_back(name);
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

// The value named `text`; with `only`, one of those values (a name outside them is refused).
template <typename E>
E parse_enum(std::string_view text, const std::vector<E>& only = {}) {
  for (const auto& [value, name] : EnumNames<E>::table) {
    if (text != name) continue;
    if (only.empty() || std::find(only.begin(), only.end(), value) != only.end()) return value;
    fail("{} '{}' is not available here (expected {})", EnumNames<E>::what, text, enum_choices<E>(only));
  }
  fail("unknown {} '{}' (expected {})", EnumNames<E>::what, text, enum_choices<E>(only));
}

}  // namespace marrow

// "{}" of a named enum is its name.
template <marrow::NamedEnum E>
struct fmt::formatter<E> : fmt::formatter<std::string_view> {
  template <typename Context>
  auto format(E value, Context& context) const {
    return fmt::formatter<std::string_view>::format(marrow::enum_name(value), context);
  }
};

// A named enum in JSON is its name (nlohmann's default would be the number).
template <marrow::NamedEnum E>
struct nlohmann::adl_serializer<E> {
  template <typename Json>
  static void to_json(Json& json, E value) {
    json = marrow::enum_name(value);
  }
  template <typename Json>
  static void from_json(const Json& json, E& value) {
    value = marrow::parse_enum<E>(json.template get<std::string>());
  }
};
