#pragma once
// report.html: a report marrow wrote as Markdown (report.md of `marrow run` and `demo`, results.md
// of `marrow cv` and `gil run`) as one self-contained page that opens offline in any browser: the
// figures it links (SVG files beside it) are inlined as data URIs, tables can be sorted by clicking a
// column header, nothing is fetched from the network.
//
// The Markdown is the subset marrow writes: headings, paragraphs, pipe tables, bullet lists, fenced
// code blocks, inline code, bold, links and images. Every text is HTML-escaped. A figure that cannot
// be read is shown as a visible note rather than a broken image.
#include <filesystem>
#include <string>
#include <string_view>

namespace marrow::report {

// The page for `markdown`, with image paths resolved against `base_dir`.
std::string markdown_to_html(std::string_view markdown, const std::filesystem::path& base_dir, std::string_view title);

// Writes report.html beside the Markdown file (atomically); returns its path.
std::string write_html_report(const std::filesystem::path& markdown_path, std::string_view title);

// The tables of a Markdown report with the heading each follows, as text: what `marrow demo` and
// `marrow run` print at the end, so that a log ends with the results.
std::string markdown_tables(std::string_view markdown);
// The same, of a report file.
std::string report_tables(const std::filesystem::path& markdown_path);

}  // namespace marrow::report
