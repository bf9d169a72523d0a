// Documents out of input files, for `frugal data prepare`:
//   text   one file is one document, or, with a separator line, the runs of lines between lines
//          exactly equal to it (e.g. "%" in fortune files). Document bytes are kept as they are,
//          line ends included; a NUL byte is an error (binary files are not text).
//   jsonl  one JSON object per line, the document in a string field (default "text"); blank lines
//          are skipped; a bad line is an error naming file:line.
//   auto   jsonl for names ending .jsonl / .json, text otherwise.
// Empty documents are skipped (and counted), so "%\n%\n" does not make an empty training example.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/file.h"

namespace frugal::data {

enum class InputFormat { kAuto, kText, kJsonl };

// "auto" / "text" / "jsonl"; throws kInvalidArgument for anything else.
InputFormat parse_input_format(std::string_view s);
InputFormat resolve_input_format(InputFormat f, const std::string& path);

struct DocumentOptions {
  InputFormat format = InputFormat::kAuto;
  std::string jsonl_key = "text";
  std::optional<std::string> doc_separator;  // text only
};

// Streams the documents of one file, in file order, from a read-only mapping.
class DocumentReader {
 public:
  DocumentReader(const std::string& path, const DocumentOptions& opt);  // throws kIo naming the path

  // The next non-empty document into `doc`; false at the end of the file. Throws kFormat naming
  // file:line for a malformed JSONL line or a missing / non-string field, and naming the file for a
  // NUL byte in a text file.
  bool next(std::string& doc);

  size_t bytes_done() const { return pos_; }  // input bytes consumed so far
  size_t bytes_total() const { return file_.size(); }
  int64_t empty_skipped() const { return empty_skipped_; }
  InputFormat format() const { return format_; }

 private:
  MappedFile file_;
  DocumentOptions opt_;
  InputFormat format_;
  size_t pos_ = 0;
  int64_t line_ = 0;  // lines consumed (1-based number of the last line read)
  int64_t empty_skipped_ = 0;

  std::string_view next_line();  // without its '\n'; advances pos_ and line_
  bool next_text(std::string& doc);
  bool next_jsonl(std::string& doc);
};

}  // namespace frugal::data
