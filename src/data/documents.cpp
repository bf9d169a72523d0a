#include "data/documents.h"

#include <cstring>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json.h"

namespace frugal::data {

namespace {

bool is_blank(std::string_view s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\r') return false;
  return true;
}

}  // namespace

InputFormat parse_input_format(std::string_view s) {
  if (s == "auto") return InputFormat::kAuto;
  if (s == "text") return InputFormat::kText;
  if (s == "jsonl") return InputFormat::kJsonl;
  fail(ErrorKind::kInvalidArgument, "input format \"{}\" (expected auto, text or jsonl)", s);
}

InputFormat resolve_input_format(InputFormat f, const std::string& path) {
  if (f != InputFormat::kAuto) return f;
  return path.ends_with(".jsonl") || path.ends_with(".json") ? InputFormat::kJsonl : InputFormat::kText;
}

DocumentReader::DocumentReader(const std::string& path, const DocumentOptions& opt)
    : file_(path), opt_(opt), format_(resolve_input_format(opt.format, path)) {
  if (format_ == InputFormat::kText) {
    const void* nul = file_.size() ? std::memchr(file_.data(), 0, file_.size()) : nullptr;
    if (nul)
      fail(ErrorKind::kFormat, "{}: NUL byte at offset {}: this looks like a binary file, not text (pass text or "
           "JSONL files only)", path, static_cast<const uint8_t*>(nul) - file_.data());
  }
}

std::string_view DocumentReader::next_line() {
  const char* base = reinterpret_cast<const char*>(file_.data());
  const size_t start = pos_;
  const void* nl = std::memchr(base + start, '\n', file_.size() - start);
  const size_t end = nl ? size_t(static_cast<const char*>(nl) - base) : file_.size();
  pos_ = nl ? end + 1 : end;
  ++line_;
  return std::string_view(base + start, end - start);
}

bool DocumentReader::next(std::string& doc) {
  return format_ == InputFormat::kJsonl ? next_jsonl(doc) : next_text(doc);
}

bool DocumentReader::next_text(std::string& doc) {
  const char* base = reinterpret_cast<const char*>(file_.data());
  while (pos_ < file_.size()) {
    if (!opt_.doc_separator) {
      // The whole file is one document.
      doc.assign(base, file_.size());
      pos_ = file_.size();
      return true;
    }
    const size_t doc_start = pos_;
    size_t doc_end = file_.size();
    while (pos_ < file_.size()) {
      const size_t line_start = pos_;
      std::string_view line = next_line();
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line == *opt_.doc_separator) {
        doc_end = line_start;
        break;
      }
    }
    if (doc_end > doc_start) {
      doc.assign(base + doc_start, doc_end - doc_start);
      return true;
    }
    ++empty_skipped_;
  }
  if (file_.size() == 0 && line_ == 0) {
    ++line_;  // count an empty file once
    ++empty_skipped_;
  }
  return false;
}

bool DocumentReader::next_jsonl(std::string& doc) {
  while (pos_ < file_.size()) {
    const std::string_view line = next_line();
    if (is_blank(line)) continue;
    const nlohmann::json j = parse_json(line, fmt::format("{}:{}", file_.path(), line_));
    if (!j.is_object()) fail(ErrorKind::kFormat, "{}:{}: expected a JSON object per line", file_.path(), line_);
    const auto it = j.find(opt_.jsonl_key);
    if (it == j.end())
      fail(ErrorKind::kFormat, "{}:{}: no \"{}\" field (choose the field with --jsonl-key)", file_.path(), line_,
           opt_.jsonl_key);
    if (!it->is_string())
      fail(ErrorKind::kFormat, "{}:{}: field \"{}\" is a {}, not a string", file_.path(), line_, opt_.jsonl_key,
           it->type_name());
    doc = it->get<std::string>();
    if (!doc.empty()) return true;
    ++empty_skipped_;
  }
  return false;
}

}  // namespace frugal::data
