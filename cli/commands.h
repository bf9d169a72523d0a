// One file per verb; each registers its subcommand (options + callback) on the app.
#pragma once
#include <CLI/CLI.hpp>

namespace frugal::cli {

void register_logits(CLI::App& app);
void register_generate(CLI::App& app);
void register_inspect(CLI::App& app);
void register_random_model(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_chat_template(CLI::App& app);
void register_tokenizer(CLI::App& app);  // tokenizer train

// Verbs in files written later register themselves with a static CommandRegistrar (so adding a
// verb touches only its own file); main() calls them in `order`, after the ones listed above.
using RegisterFn = void (*)(CLI::App&);
struct CommandRegistrar {
  CommandRegistrar(int order, RegisterFn fn);
};
void register_all_commands(CLI::App& app);

// Parses "1,2,3" (spaces allowed) into token ids; throws kInvalidArgument naming the bad item.
std::vector<int32_t> parse_ids(const std::string& s);

}  // namespace frugal::cli
