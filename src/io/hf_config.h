// Hugging Face config.json <-> DeepSeekConfig (docs/model.md, Configuration). Every key the released DeepSeek-V3, V2
// and V2-Lite configs carry is either read and validated or deliberately ignored (the list is in
// hf_config.cpp). Errors name the file, the key, the bad value and why it is bad:
//   kConfig      a required key is missing, has the wrong JSON type, or an impossible value;
//   kUnsupported a well-formed value we do not implement (model_type, rope type, quant method...);
//   kIo/kFormat  the file is missing / is not JSON (load_hf_config only).
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "model/config.h"

namespace frugal {

// `source` names the input in error messages (usually the config.json path).
DeepSeekConfig parse_hf_config(const nlohmann::json& j, const std::string& source);

// A directory means DIR/config.json.
DeepSeekConfig load_hf_config(const std::string& path_or_dir);

// A config.json (HF key names) that parse_hf_config reads back into an identical DeepSeekConfig.
nlohmann::json hf_config_to_json(const DeepSeekConfig& c);

}  // namespace frugal
