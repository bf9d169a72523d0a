#include "tokenizer/jinja_lexer.h"

#include <cstring>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace frugal::jinja {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

int count_lines(std::string_view s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

class Lexer {
 public:
  Lexer(std::string_view src, const LexOptions& o) : src_(src), opts_(o) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) {
      const size_t tag = find_tag(pos_);
      emit_text(tag);
      if (tag == std::string_view::npos) break;
      const char kind = src_[tag + 1];
      pos_ = tag + 2;
      if (kind == '#') {
        lex_comment();
      } else if (kind == '%' && try_raw()) {
        // raw block handled
      } else {
        lex_tag(kind);
      }
    }
    out_.push_back({Tok::kEof, "", line_});
    return std::move(out_);
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t p = src_.find('{', from); p != std::string_view::npos; p = src_.find('{', p + 1)) {
      if (p + 1 < src_.size() && (src_[p + 1] == '{' || src_[p + 1] == '%' || src_[p + 1] == '#')) return p;
    }
    return std::string_view::npos;
  }

  // Emits the text from pos_ to `tag` (npos = end), applying the whitespace control of the tag
  // that closed before it and of the tag that opens after it.
  void emit_text(size_t tag) {
    const size_t end = tag == std::string_view::npos ? src_.size() : tag;
    std::string_view raw = src_.substr(pos_, end - pos_);
    const int raw_lines = count_lines(raw);
    bool line_start = pos_ == 0 || src_[pos_ - 1] == '\n';
    std::string text(raw);
    if (strip_next_) {
      size_t k = 0;
      while (k < text.size() && is_ws(text[k])) ++k;
      text.erase(0, k);
    } else if (trim_next_nl_) {
      if (text.starts_with("\n")) {
        text.erase(0, 1);
        line_start = true;
      } else if (text.starts_with("\r\n")) {
        text.erase(0, 2);
        line_start = true;
      }
    }
    strip_next_ = trim_next_nl_ = false;
    if (tag != std::string_view::npos) {
      const char kind = src_[tag + 1];
      const char mod = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
      if (mod == '-') {
        while (!text.empty() && is_ws(text.back())) text.pop_back();
      } else if (opts_.lstrip_blocks && mod != '+' && (kind == '%' || kind == '#')) {
        const size_t nl = text.rfind('\n');
        const size_t tail = nl == std::string::npos ? 0 : nl + 1;
        if (nl != std::string::npos || line_start) {
          bool blank = true;
          for (size_t k = tail; k < text.size(); ++k) blank = blank && (text[k] == ' ' || text[k] == '\t');
          if (blank) text.erase(tail);
        }
      }
    }
    if (!text.empty()) out_.push_back({Tok::kText, std::move(text), line_});
    line_ += raw_lines;
    pos_ = end;
  }

  void set_close_flags(bool minus, bool plus, bool block) {
    if (minus) strip_next_ = true;
    else if (block && opts_.trim_blocks && !plus) trim_next_nl_ = true;
  }

  void lex_comment() {
    const int start_line = line_;
    const size_t close = src_.find("#}", pos_);
    if (close == std::string_view::npos)
      fail(ErrorKind::kFormat, "template line {}: unterminated comment (missing '#}}')", start_line);
    line_ += count_lines(src_.substr(pos_, close - pos_));
    const bool minus = close > pos_ && src_[close - 1] == '-';
    const bool plus = close > pos_ && src_[close - 1] == '+';
    pos_ = close + 2;
    set_close_flags(minus, plus, true);
  }

  // `{% raw %}...{% endraw %}`: the body is text, untouched.
  bool try_raw() {
    size_t p = pos_;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ++p;
    while (p < src_.size() && is_ws(src_[p])) ++p;
    if (src_.substr(p, 3) != "raw") return false;
    p += 3;
    while (p < src_.size() && is_ws(src_[p])) ++p;
    bool minus = false;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) minus = src_[p++] == '-';
    if (src_.substr(p, 2) != "%}") return false;
    p += 2;
    // Find {% endraw %}.
    for (size_t q = src_.find("{%", p); q != std::string_view::npos; q = src_.find("{%", q + 2)) {
      size_t r = q + 2;
      const bool end_minus = r < src_.size() && src_[r] == '-';
      if (r < src_.size() && (src_[r] == '-' || src_[r] == '+')) ++r;
      while (r < src_.size() && is_ws(src_[r])) ++r;
      if (src_.substr(r, 6) != "endraw") continue;
      r += 6;
      while (r < src_.size() && is_ws(src_[r])) ++r;
      bool close_minus = false;
      if (r < src_.size() && (src_[r] == '-' || src_[r] == '+')) close_minus = src_[r++] == '-';
      if (src_.substr(r, 2) != "%}") continue;
      std::string body(src_.substr(p, q - p));
      if (minus) {
        size_t k = 0;
        while (k < body.size() && is_ws(body[k])) ++k;
        body.erase(0, k);
      } else if (opts_.trim_blocks && body.starts_with("\n")) {
        body.erase(0, 1);
      }
      if (end_minus)
        while (!body.empty() && is_ws(body.back())) body.pop_back();
      const int start_line = line_;
      line_ += count_lines(src_.substr(pos_, r + 2 - pos_));
      if (!body.empty()) out_.push_back({Tok::kText, std::move(body), start_line});
      pos_ = r + 2;
      set_close_flags(close_minus, false, true);
      return true;
    }
    fail(ErrorKind::kFormat, "template line {}: '{{% raw %}}' without '{{% endraw %}}'", line_);
  }

  void lex_tag(char kind) {
    const int start_line = line_;
    const bool block = kind == '%';
    out_.push_back({block ? Tok::kStmtBegin : Tok::kExprBegin, block ? "{%" : "{{", line_});
    if (pos_ < src_.size() && (src_[pos_] == '-' || src_[pos_] == '+')) ++pos_;
    const char close = block ? '%' : '}';
    int depth = 0;
    while (true) {
      while (pos_ < src_.size() && is_ws(src_[pos_])) {
        if (src_[pos_] == '\n') ++line_;
        ++pos_;
      }
      if (pos_ >= src_.size())
        fail(ErrorKind::kFormat, "template line {}: unterminated '{}' tag (missing '{}}}')", start_line,
             block ? "{%" : "{{", close);
      const std::string_view rest = src_.substr(pos_);
      if (depth == 0) {
        const bool minus = rest.size() >= 3 && (rest[0] == '-' || rest[0] == '+') && rest[1] == close && rest[2] == '}';
        if (minus || (rest.size() >= 2 && rest[0] == close && rest[1] == '}')) {
          out_.push_back({block ? Tok::kStmtEnd : Tok::kExprEnd, block ? "%}" : "}}", line_});
          pos_ += minus ? 3 : 2;
          set_close_flags(minus && rest[0] == '-', minus && rest[0] == '+', block);
          return;
        }
      }
      const char c = rest[0];
      if (is_name_start(c)) {
        size_t k = 1;
        while (k < rest.size() && (is_name_start(rest[k]) || is_digit(rest[k]))) ++k;
        out_.push_back({Tok::kName, std::string(rest.substr(0, k)), line_});
        pos_ += k;
      } else if (is_digit(c)) {
        lex_number(rest);
      } else if (c == '\'' || c == '"') {
        lex_string(c);
      } else {
        static const char* kTwo[] = {"//", "**", "==", "!=", "<=", ">="};
        std::string op;
        for (const char* t : kTwo)
          if (rest.starts_with(t)) op = t;
        if (op.empty()) {
          if (!std::strchr("()[]{},.:|~+-*/%=<>", c) || c == '\0')
            fail(ErrorKind::kFormat, "template line {}: unexpected character '{}' in a tag", line_, c);
          op = std::string(1, c);
          if (c == '(' || c == '[' || c == '{') ++depth;
          if (c == ')' || c == ']' || c == '}') {
            if (--depth < 0) fail(ErrorKind::kFormat, "template line {}: unbalanced '{}'", line_, c);
          }
        }
        out_.push_back({Tok::kOp, op, line_});
        pos_ += op.size();
      }
    }
  }

  void lex_number(std::string_view rest) {
    size_t k = 0;
    bool is_float = false;
    while (k < rest.size() && (is_digit(rest[k]) || rest[k] == '_')) ++k;
    if (k + 1 < rest.size() && rest[k] == '.' && is_digit(rest[k + 1])) {
      is_float = true;
      ++k;
      while (k < rest.size() && is_digit(rest[k])) ++k;
    }
    if (k < rest.size() && (rest[k] == 'e' || rest[k] == 'E')) {
      size_t e = k + 1;
      if (e < rest.size() && (rest[e] == '+' || rest[e] == '-')) ++e;
      if (e < rest.size() && is_digit(rest[e])) {
        is_float = true;
        k = e;
        while (k < rest.size() && is_digit(rest[k])) ++k;
      }
    }
    std::string text;
    for (char ch : rest.substr(0, k))
      if (ch != '_') text += ch;
    out_.push_back({is_float ? Tok::kFloat : Tok::kInt, text, line_});
    pos_ += k;
  }

  void lex_string(char quote) {
    const int start_line = line_;
    std::string value;
    size_t p = pos_ + 1;
    while (true) {
      if (p >= src_.size()) fail(ErrorKind::kFormat, "template line {}: unterminated string literal", start_line);
      const char c = src_[p];
      if (c == quote) break;
      if (c == '\n') ++line_;
      if (c != '\\') {
        value += c;
        ++p;
        continue;
      }
      if (p + 1 >= src_.size()) fail(ErrorKind::kFormat, "template line {}: unterminated string literal", start_line);
      const char e = src_[p + 1];
      p += 2;
      switch (e) {
        case 'n': value += '\n'; break;
        case 't': value += '\t'; break;
        case 'r': value += '\r'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
        case 'v': value += '\v'; break;
        case '0': value += '\0'; break;
        case '\\': value += '\\'; break;
        case '\'': value += '\''; break;
        case '"': value += '"'; break;
        case '\n': ++line_; break;  // line continuation
        case 'x':
        case 'u':
        case 'U': {
          const size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          uint32_t cp = 0;
          for (size_t k = 0; k < n; ++k) {
            const char h = p + k < src_.size() ? src_[p + k] : '\0';
            int d = is_digit(h) ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
            if (d < 0) fail(ErrorKind::kFormat, "template line {}: bad \\{} escape in a string literal", line_, e);
            cp = cp * 16 + uint32_t(d);
          }
          if (cp > 0x10FFFF) fail(ErrorKind::kFormat, "template line {}: escape beyond U+10FFFF", line_);
          tok::utf8_append(value, cp);
          p += n;
          break;
        }
        default:
          value += '\\';
          value += e;
      }
    }
    out_.push_back({Tok::kString, std::move(value), start_line});
    pos_ = p + 1;
  }

  std::string_view src_;
  LexOptions opts_;
  size_t pos_ = 0;
  int line_ = 1;
  bool strip_next_ = false, trim_next_nl_ = false;
  std::vector<Token> out_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source, const LexOptions& opts) {
  // keep_trailing_newline=False: a single trailing newline is dropped.
  if (source.ends_with("\r\n")) source.remove_suffix(2);
  else if (source.ends_with("\n")) source.remove_suffix(1);
  return Lexer(source, opts).run();
}

}  // namespace frugal::jinja
