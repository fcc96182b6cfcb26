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
// edge. Torch-free and header-only.
#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "marrow/core/error.hpp"

namespace marrow {

// Specialise for each enum E with `what` (a noun for messages) and `table` (value, name) pairs.
template <typename E>
struct EnumNames;

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

// "a, b or c": the valid names, for help texts and errors.
template <typename E>
std::string enum_choices() {
  std::string out;
  const auto& table = EnumNames<E>::table;
  for (size_t i = 0; i < table.size(); ++i) {
    if (i > 0) out += i + 1 == table.size() ? " or " : ", ";
    out += table[i].second;
  }
  return out;
}

template <typename E>
E parse_enum(std::string_view text) {
  for (const auto& [value, name] : EnumNames<E>::table)
    if (text == name) return value;
  fail("unknown {} '{}' (expected {})", EnumNames<E>::what, text, enum_choices<E>());
}

}  // namespace marrow
