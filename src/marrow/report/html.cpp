#include "marrow/report/html.hpp"

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "marrow/core/atomic_file.hpp"
#include "marrow/core/error.hpp"
#include "marrow/report/svg.hpp"

namespace marrow::report {

namespace {

namespace fs = std::filesystem;

std::string base64(const std::string& bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

// An image as an inlined data URI; a figure that cannot be read (or is not inside the report's
// folder) becomes a visible note.
std::string image(std::string_view alt, std::string_view source, const fs::path& base_dir) {
  const fs::path path = base_dir / std::string(source);
  const bool svg = source.ends_with(".svg"), png = source.ends_with(".png");
  std::ifstream in(path, std::ios::binary);
  if ((!svg && !png) || source.find("..") != std::string_view::npos || !in)
    return fmt::format("<span class=\"missing\">[figure not available: {}]</span>", xml_escape(source));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return fmt::format("<img class=\"figure\" alt=\"{}\" src=\"data:{};base64,{}\">", xml_escape(alt),
                     svg ? "image/svg+xml" : "image/png", base64(bytes.str()));
}

// Inline Markdown: images, links, `code`, **bold**; everything else escaped.
std::string inline_html(std::string_view text, const fs::path& base_dir) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    const bool is_image = text.compare(i, 2, "![") == 0;
    if (is_image || text[i] == '[') {
      size_t label_start = i + (is_image ? 2 : 1);
      size_t close = text.find("](", label_start);
      size_t end = close == std::string_view::npos ? close : text.find(')', close + 2);
      if (end != std::string_view::npos) {
        std::string_view label = text.substr(label_start, close - label_start);
        std::string_view target = text.substr(close + 2, end - close - 2);
        out += is_image ? image(label, target, base_dir)
                        : fmt::format("<a href=\"{}\">{}</a>", xml_escape(target), inline_html(label, base_dir));
        i = end + 1;
        continue;
      }
    }
    if (text[i] == '`') {
      size_t end = text.find('`', i + 1);
      if (end != std::string_view::npos) {
        out += "<code>" + xml_escape(text.substr(i + 1, end - i - 1)) + "</code>";
        i = end + 1;
        continue;
      }
    }
    if (text.compare(i, 2, "**") == 0) {
      size_t end = text.find("**", i + 2);
      if (end != std::string_view::npos) {
        out += "<strong>" + inline_html(text.substr(i + 2, end - i - 2), base_dir) + "</strong>";
        i = end + 2;
        continue;
      }
    }
    out += xml_escape(text.substr(i, 1));
    ++i;
  }
  return out;
}

std::vector<std::string_view> table_cells(std::string_view row) {
  if (row.starts_with('|')) row.remove_prefix(1);
  if (row.ends_with('|')) row.remove_suffix(1);
  std::vector<std::string_view> cells;
  size_t start = 0;
  for (size_t i = 0; i <= row.size(); ++i)
    if (i == row.size() || (row[i] == '|' && (i == 0 || row[i - 1] != '\\'))) {
      std::string_view cell = row.substr(start, i - start);
      while (!cell.empty() && cell.front() == ' ') cell.remove_prefix(1);
      while (!cell.empty() && cell.back() == ' ') cell.remove_suffix(1);
      cells.push_back(cell);
      start = i + 1;
    }
  return cells;
}

bool is_separator_row(std::string_view row) { return row.find_first_not_of("|-: ") == std::string_view::npos; }

std::string table(const std::vector<std::string_view>& rows, const fs::path& base_dir) {
  std::string out = "<table class=\"sortable\"><thead><tr>";
  for (std::string_view cell : table_cells(rows.front())) out += "<th>" + inline_html(cell, base_dir) + "</th>";
  out += "</tr></thead><tbody>\n";
  for (size_t r = 1; r < rows.size(); ++r) {
    if (is_separator_row(rows[r])) continue;
    out += "<tr>";
    for (std::string_view cell : table_cells(rows[r])) out += "<td>" + inline_html(cell, base_dir) + "</td>";
    out += "</tr>\n";
  }
  return out + "</tbody></table>\n";
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// Sorting by a click on a header: numbers (the leading number of "0.72 ± 0.08") numerically.
constexpr const char* kStyleAndScript = R"(<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:0.92em}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f2f2f2;cursor:pointer;user-select:none}th:hover{background:#e4e4e4}tr:nth-child(even) td{background:#fafafa}
code{background:#f4f4f4;padding:0 3px;border-radius:3px}pre{background:#f4f4f4;padding:8px;overflow-x:auto}
img.figure{max-width:100%;margin:6px 6px 6px 0;vertical-align:top;border:1px solid #eee}.missing{color:#a00}
</style>
<script>
document.addEventListener("DOMContentLoaded",function(){document.querySelectorAll("table.sortable th").forEach(function(th,col){
th.title="Click to sort";th.addEventListener("click",function(){var body=th.closest("table").tBodies[0];
var rows=Array.from(body.rows);var up=th.dataset.order!=="asc";th.dataset.order=up?"asc":"desc";
var key=function(r){var t=r.cells[col]?r.cells[col].textContent.trim():"";var n=parseFloat(t);return isNaN(n)?t:n;};
rows.sort(function(a,b){var x=key(a),y=key(b);if(typeof x!==typeof y){x=String(x);y=String(y);}return (x<y?-1:x>y?1:0)*(up?1:-1);});
rows.forEach(function(r){body.appendChild(r);});});});});
</script>
)";

}  // namespace

std::string markdown_to_html(std::string_view markdown, const fs::path& base_dir, std::string_view title) {
  std::string body;
  std::vector<std::string_view> lines = lines_of(markdown);
  std::string paragraph;
  auto flush_paragraph = [&] {
    if (!paragraph.empty()) body += "<p>" + inline_html(paragraph, base_dir) + "</p>\n";
    paragraph.clear();
  };
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (line.starts_with("```")) {
      flush_paragraph();
      body += "<pre>";
      for (++i; i < lines.size() && !lines[i].starts_with("```"); ++i) body += xml_escape(lines[i]) + "\n";
      body += "</pre>\n";
    } else if (line.starts_with('#')) {
      flush_paragraph();
      size_t level = std::min<size_t>(line.find_first_not_of('#'), 6);
      std::string_view text = line.substr(std::min(line.size(), level + 1));
      body += fmt::format("<h{0}>{1}</h{0}>\n", level, inline_html(text, base_dir));
    } else if (line.starts_with('|')) {
      flush_paragraph();
      std::vector<std::string_view> rows;
      for (; i < lines.size() && lines[i].starts_with('|'); ++i) rows.push_back(lines[i]);
      --i;
      body += table(rows, base_dir);
    } else if (line.starts_with("- ") || line.starts_with("* ")) {
      flush_paragraph();
      body += "<ul>\n";
      for (; i < lines.size() && (lines[i].starts_with("- ") || lines[i].starts_with("* ")); ++i)
        body += "<li>" + inline_html(lines[i].substr(2), base_dir) + "</li>\n";
      --i;
      body += "</ul>\n";
    } else if (line.find_first_not_of(' ') == std::string_view::npos) {
      flush_paragraph();
    } else {
      if (!paragraph.empty()) paragraph += ' ';
      paragraph += line;
    }
  }
  flush_paragraph();
  return fmt::format("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n{}</head>\n<body>\n{}</body></html>\n",
                     xml_escape(title), kStyleAndScript, body);
}

std::string markdown_tables(std::string_view markdown) {
  std::string out;
  std::string_view heading;
  bool in_table = false, in_code = false;
  for (std::string_view line : lines_of(markdown)) {
    if (line.starts_with("```")) in_code = !in_code;
    if (in_code) continue;
    if (line.starts_with('#')) heading = line;
    const bool row = line.starts_with('|');
    if (row && !in_table) out += (out.empty() ? "" : "\n") + std::string(heading) + "\n";
    if (row) out += std::string(line) + "\n";
    in_table = row;
  }
  return out;
}

namespace {

std::string read_report(const fs::path& markdown_path) {
  std::ifstream in(markdown_path, std::ios::binary);
  if (!in) fail("{}: cannot read the report", markdown_path.string());
  std::ostringstream markdown;
  markdown << in.rdbuf();
  return markdown.str();
}

}  // namespace

std::string report_tables(const fs::path& markdown_path) { return markdown_tables(read_report(markdown_path)); }

std::string write_html_report(const fs::path& markdown_path, std::string_view title) {
  const fs::path html = markdown_path.parent_path() / "report.html";
  write_file_atomic(html, markdown_to_html(read_report(markdown_path), markdown_path.parent_path(), title));
  return html.string();
}

}  // namespace marrow::report
