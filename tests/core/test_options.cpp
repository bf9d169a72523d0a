// The shared option machinery (core/options.h) on a small config of every field kind: text and
// TOML values, rules, failed assignments leaving the value, hints, the TOML writer, rows and flags.
#include <gtest/gtest.h>

#include "core/options.h"
#include "test_util.h"

namespace frugal {
namespace {

using test::expect_error;

enum class Color { kRed, kGreen, kBlue };
constexpr std::string_view kColors[] = {"red", "green", "blue"};
constexpr std::string_view kSizes[] = {"s", "m", "l"};

struct Demo {
  struct Net {
    std::string host = "localhost";
    int64_t port = 80;
    bool verbose = false;
    bool cache = true;
  } net;
  struct Calc {
    double rate = 0.5;
    uint64_t seed = 1;
    Color color = Color::kGreen;
    std::string size = "m";
    std::string name = "x";
  } calc;
};

Options demo_options(Demo& d) {
  Options o;
  o.add(option("net", "host", "host", "address"), d.net.host);
  o.add(option("net", "port", "port", "TCP port", between(0, 65535)), d.net.port);
  o.add(option("net", "verbose", "verbose", "talk more"), d.net.verbose);
  o.add(option("net", "cache", "no-cache", "keep a cache"), d.net.cache);
  o.add(option("calc", "rate", "rate", "a rate", positive()), d.calc.rate);
  o.add(option("calc", "seed", "", "a seed"), d.calc.seed);
  o.add(option("calc", "color", "color", "red|green|blue"), d.calc.color, kColors);
  o.add(option("calc", "size", "size", "s|m|l", OptionRule{.choices = kSizes, .note = "sizes are s, m or l"}),
        d.calc.size);
  o.add(option("calc", "name", "name", "a name", OptionRule{.nonempty = true}), d.calc.name);
  return o;
}

std::string write_toml(const test::TempDir& dir, const std::string& text) {
  const std::string path = dir.file("demo.toml");
  test::write_bytes(path, text);
  return path;
}

TEST(Options, SetParsesEveryKind) {
  Demo d;
  Options o = demo_options(d);
  o.set("net.host", "'example.org'");  // quotes are stripped
  o.set("net.port", "8080");
  o.set("net.verbose", "yes");
  o.set_assignment("calc.rate=2.5e-1");
  o.set_assignment("calc.seed=42");
  o.set_assignment("calc.color=blue");
  o.set_assignment("calc.size=l");
  o.set_assignment("calc.name=a=b");  // the first '=' splits
  EXPECT_EQ(d.net.host, "example.org");
  EXPECT_EQ(d.net.port, 8080);
  EXPECT_TRUE(d.net.verbose);
  EXPECT_EQ(d.calc.rate, 0.25);
  EXPECT_EQ(d.calc.seed, 42u);
  EXPECT_EQ(d.calc.color, Color::kBlue);
  EXPECT_EQ(d.calc.size, "l");
  EXPECT_EQ(d.calc.name, "a=b");
}

TEST(Options, BadValuesNameSourceKeyAndValueAndLeaveTheField) {
  Demo d;
  Options o = demo_options(d);
  expect_error([&] { o.set("net.port", "70000", "--port"); }, ErrorKind::kConfig,
               {"--port: net.port = '70000': must be in [0, 65535]"});
  expect_error([&] { o.set("net.port", "8o", "--port"); }, ErrorKind::kConfig, {"expected an integer"});
  expect_error([&] { o.set("calc.rate", "0"); }, ErrorKind::kConfig, {"calc.rate = '0'", "must be > 0"});
  expect_error([&] { o.set("calc.rate", "inf"); }, ErrorKind::kConfig, {"must be finite"});
  expect_error([&] { o.set("calc.seed", "-1"); }, ErrorKind::kConfig, {"expected a non-negative integer"});
  expect_error([&] { o.set("net.verbose", "maybe"); }, ErrorKind::kConfig, {"expected true or false"});
  expect_error([&] { o.set("calc.color", "pink"); }, ErrorKind::kConfig, {"expected one of red|green|blue"});
  expect_error([&] { o.set("calc.size", "xl"); }, ErrorKind::kConfig, {"calc.size = 'xl': sizes are s, m or l"});
  expect_error([&] { o.set("calc.name", ""); }, ErrorKind::kConfig, {"must not be empty"});
  expect_error([&] { o.set_assignment("calc.rate", "flag"); }, ErrorKind::kConfig,
               {"flag: 'calc.rate' is not of the form section.key=value"});
  const Demo fresh;
  EXPECT_EQ(d.net.port, fresh.net.port);
  EXPECT_EQ(d.calc.rate, fresh.calc.rate);
  EXPECT_EQ(d.calc.seed, fresh.calc.seed);
  EXPECT_EQ(d.calc.color, fresh.calc.color);
  EXPECT_EQ(d.calc.size, fresh.calc.size);
  EXPECT_EQ(d.calc.name, fresh.calc.name);
}

TEST(Options, UnknownNamesHaveHints) {
  Demo d;
  Options o = demo_options(d);
  expect_error([&] { o.set("net.prot", "1", "here"); }, ErrorKind::kConfig,
               {"here: unknown key 'net.prot'", "did you mean 'net.port'"});
  expect_error([&] { o.set("calc.host", "1"); }, ErrorKind::kConfig, {"did you mean 'net.host'"});  // other section
  expect_error([&] { o.set("nett.port", "1"); }, ErrorKind::kConfig,
               {"unknown section 'nett'", "did you mean '[net]'"});
  expect_error([&] { o.set("zzzz.port", "1"); }, ErrorKind::kConfig, {"valid sections: net, calc"});
  expect_error([&] { o.set("net.qqqqqqq", "1"); }, ErrorKind::kConfig,
               {"valid keys in [net]: host, port, verbose, cache"});
  expect_error([&] { o.set("port", "1"); }, ErrorKind::kConfig, {"not a section.key name", "did you mean 'net.port'"});
}

TEST(Options, TomlSetsFieldsAndNamesFileLineAndKey) {
  test::TempDir dir;
  Demo d;
  Options o = demo_options(d);
  o.load_toml(write_toml(dir, "[net]\nhost = \"h\"\nport = 1\ncache = false\n[calc]\nrate = 2\ncolor = \"red\"\n"));
  EXPECT_EQ(d.net.host, "h");
  EXPECT_EQ(d.net.port, 1);
  EXPECT_FALSE(d.net.cache);
  EXPECT_EQ(d.calc.rate, 2.0);  // an integer is accepted for a float
  EXPECT_EQ(d.calc.color, Color::kRed);

  auto load = [&](const std::string& text) {
    Demo x;
    Options ox = demo_options(x);
    ox.load_toml(write_toml(dir, text));
  };
  expect_error([&] { load("[net]\nport = 1.5\n"); }, ErrorKind::kConfig,
               {"demo.toml:2:8: net.port = 1.5: expected an integer"});
  expect_error([&] { load("[net]\nport = -1\n"); }, ErrorKind::kConfig, {"demo.toml:2", "must be in [0, 65535]"});
  expect_error([&] { load("[net]\nverbose = 1\n"); }, ErrorKind::kConfig,
               {"net.verbose = 1", "expected true or false"});
  expect_error([&] { load("[net]\nhost = 3\n"); }, ErrorKind::kConfig, {"net.host = 3", "expected a string"});
  expect_error([&] { load("[calc]\ncolor = 1\n"); }, ErrorKind::kConfig, {"calc.color", "expected a string"});
  expect_error([&] { load("[calc]\ncolor = \"pink\"\n"); }, ErrorKind::kConfig,
               {"calc.color = \"pink\"", "red|green|blue"});
  expect_error([&] { load("[calc]\nseed = -2\n"); }, ErrorKind::kConfig, {"calc.seed", "non-negative"});
  expect_error([&] { load("[net]\nprot = 1\n"); }, ErrorKind::kConfig,
               {"demo.toml:2", "unknown key 'net.prot'", "did you mean 'net.port'"});
  expect_error([&] { load("[nett]\n"); }, ErrorKind::kConfig, {"demo.toml:1", "unknown section 'nett'", "'[net]'"});
  expect_error([&] { load("port = 1\n"); }, ErrorKind::kConfig,
               {"demo.toml:1", "key 'port' is outside any [section]", "did you mean 'port' under [net]?"});
  expect_error([&] { load("[net\n"); }, ErrorKind::kConfig, {"demo.toml:1", "invalid TOML"});
  expect_error(
      [&] {
        Demo x;
        demo_options(x).load_toml(dir.file("missing.toml"));
      },
      ErrorKind::kIo, {"missing.toml"});
}

TEST(Options, TomlWriterRoundTrips) {
  test::TempDir dir;
  Demo d;
  Options o = demo_options(d);
  o.set("net.host", "tab\there \"quoted\" back\\slash ünï");
  o.set("calc.rate", "0.1");
  o.set("calc.seed", "12345678901234");
  o.set("calc.color", "blue");
  const std::string text = o.to_toml("# demo");
  EXPECT_EQ(text.substr(0, 14), "# demo\n[net]\nh");
  EXPECT_NE(text.find("rate = 0.1  # a rate\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\n\n[calc]\n"), std::string::npos) << text;
  Demo back;
  Options ob = demo_options(back);
  ob.load_toml(write_toml(dir, text));
  EXPECT_EQ(back.net.host, d.net.host);
  EXPECT_EQ(back.calc.rate, d.calc.rate);
  EXPECT_EQ(back.calc.seed, d.calc.seed);
  EXPECT_EQ(back.calc.color, d.calc.color);
  EXPECT_EQ(ob.to_toml("# demo"), text);
  // A whole-number float stays a TOML float.
  o.set("calc.rate", "2");
  EXPECT_NE(o.to_toml("#").find("rate = 2.0 "), std::string::npos);
}

TEST(Options, RowsAndFlags) {
  Demo d;
  const std::vector<OptionField> rows = demo_options(d).fields();
  ASSERT_EQ(rows.size(), 9u);
  EXPECT_EQ(rows[1].key, "net.port");
  EXPECT_EQ(rows[1].type, "int");
  EXPECT_EQ(rows[1].default_value, "80");
  EXPECT_EQ(rows[4].type, "float");
  EXPECT_EQ(rows[5].type, "uint");
  EXPECT_EQ(rows[6].type, "enum");
  EXPECT_EQ(rows[6].default_value, "\"green\"");
  EXPECT_EQ(rows[7].type, "string");
  EXPECT_EQ(rows[2].type, "bool");

  const std::vector<CliFlag> flags = demo_options(d).cli_flags();
  ASSERT_EQ(flags.size(), 8u);  // calc.seed has no flag
  EXPECT_EQ(flags[1].flag, "port");
  EXPECT_EQ(flags[1].kind, CliFlag::Kind::kValue);
  EXPECT_EQ(flags[1].help, "TCP port (default 80; net.port)");
  EXPECT_EQ(flags[2].kind, CliFlag::Kind::kSetTrue);
  EXPECT_EQ(flags[3].flag, "no-cache");
  EXPECT_EQ(flags[3].kind, CliFlag::Kind::kSetFalse);
  EXPECT_EQ(flags[3].help, "sets net.cache = false: keep a cache");
  EXPECT_EQ(flag_override(flags[1], "81"), "net.port=81");
  EXPECT_EQ(flag_override(flags[2]), "net.verbose=true");
  EXPECT_EQ(flag_override(flags[3], "ignored"), "net.cache=false");
}

TEST(Options, LoadAppliesFileThenOverridesThenValidates) {
  test::TempDir dir;
  const std::string path = write_toml(dir, "[net]\nport = 1\nhost = \"file\"\n");
  Demo d;
  Options o = demo_options(d);
  int validated = 0;
  load_options(o, &path, {"net.port=2", "net.port=3"}, [&] { ++validated; });
  EXPECT_EQ(d.net.port, 3);  // later overrides win
  EXPECT_EQ(d.net.host, "file");
  EXPECT_EQ(validated, 1);

  auto bad = [&] { fail(ErrorKind::kConfig, "net.port and calc.rate disagree"); };
  Demo e;
  Options oe = demo_options(e);
  expect_error([&] { load_options(oe, &path, {}, bad); }, ErrorKind::kConfig,
               {"demo.toml (with overrides): net.port and calc.rate disagree"});
  expect_error([&] { load_options(oe, nullptr, {}, bad); }, ErrorKind::kConfig, {"net.port and calc.rate disagree"});
  expect_error([&] { load_options(oe, nullptr, {"net.port=x"}, [] {}); }, ErrorKind::kConfig,
               {"override 'net.port=x': net.port = 'x'"});
}

TEST(Options, DottedOverridesParse) {
  EXPECT_EQ(parse_dotted_overrides({"--net.port=1", "--calc.rate", "2", "--calc.rate", "-1"}),
            (std::vector<std::string>{"net.port=1", "calc.rate=2", "calc.rate=-1"}));
  expect_error([] { parse_dotted_overrides({"--port=3"}); }, ErrorKind::kConfig, {"--port=3", "--section.key=value"});
  expect_error([] { parse_dotted_overrides({"stray"}); }, ErrorKind::kConfig, {"unexpected argument 'stray'"});
  expect_error([] { parse_dotted_overrides({"--net.port"}); }, ErrorKind::kConfig, {"needs a value"});
}

TEST(Options, EditDistance) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("port", "prot"), 2u);
  EXPECT_EQ(edit_distance("flaw", "lawn"), 2u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

}  // namespace
}  // namespace frugal
