#include "io/quant_format.h"

#include <cstring>

#include "core/error.h"
#include "core/json.h"
#include "kernels/quant_blocks.h"

namespace frugal {

std::optional<DType> block_type_from_name(const std::string& s) {
  if (s == "Q8_0" || s == "q8_0") return DType::kQ8_0;
  if (s == "Q4_0" || s == "q4_0") return DType::kQ4_0;
  return std::nullopt;
}

std::string block_tensor_metadata(DType t, int64_t rows, int64_t cols) {
  nlohmann::json j = {{"type", std::string(dtype_name(t))}, {"shape", {rows, cols}}};
  return j.dump();
}

std::optional<DType> stored_block_type(const WeightStore& store, const std::string& name) {
  const auto& meta = store.metadata_of(name);
  const auto it = meta.find(kQuantMetadataPrefix + name);
  if (it == meta.end()) return std::nullopt;
  const nlohmann::json j = parse_json(it->second, store.file_of(name));
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) return std::nullopt;
  return block_type_from_name(j["type"].get<std::string>());
}

std::optional<BlockTensor> find_block_tensor(const WeightStore& store, const std::string& name) {
  if (!store.has(name)) return std::nullopt;
  const auto& meta = store.metadata_of(name);
  const auto it = meta.find(kQuantMetadataPrefix + name);
  const SafetensorsEntry& e = store.entry(name);
  const std::string& file = store.file_of(name);
  if (it == meta.end()) {
    if (e.dtype == DType::kU8)
      fail(ErrorKind::kShape, "{}: tensor '{}' is U8 but the file's __metadata__ has no '{}{}' entry describing its "
           "blocks", file, name, kQuantMetadataPrefix, name);
    return std::nullopt;
  }
  const std::string where = fmt::format("{}: tensor '{}' (__metadata__ '{}{}')", file, name, kQuantMetadataPrefix, name);
  nlohmann::json j = parse_json(it->second, where);
  const auto* type = j.is_object() && j.contains("type") && j["type"].is_string() ? &j["type"] : nullptr;
  const auto* shape = j.is_object() && j.contains("shape") && j["shape"].is_array() ? &j["shape"] : nullptr;
  if (!type || !shape || shape->size() != 2 || !(*shape)[0].is_number_integer() || !(*shape)[1].is_number_integer())
    fail(ErrorKind::kFormat, "{}: expected {{\"type\": \"Q8_0\"|\"Q4_0\", \"shape\": [rows, cols]}}, found {}", where,
         it->second);
  BlockTensor b;
  const auto t = block_type_from_name(type->get<std::string>());
  if (!t) fail(ErrorKind::kFormat, "{}: unknown block type '{}' (Q8_0 or Q4_0)", where, type->get<std::string>());
  b.type = *t;
  b.rows = (*shape)[0].get<int64_t>();
  b.cols = (*shape)[1].get<int64_t>();
  if (b.rows < 0 || b.cols <= 0 || b.rows > (int64_t(1) << 40) || b.cols > (int64_t(1) << 40))
    fail(ErrorKind::kFormat, "{}: shape [{}, {}] out of range", where, b.rows, b.cols);
  if (b.cols % kQBlock != 0)
    fail(ErrorKind::kShape, "{}: {} columns is not a multiple of the {}-value block", where, b.cols, kQBlock);
  if (e.dtype != DType::kU8)
    fail(ErrorKind::kFormat, "{}: blocks must be stored as U8, found {}", where, dtype_name(e.dtype));
  const int64_t row_bytes = dtype_row_bytes(b.type, b.cols);
  if (e.shape != Shape{b.rows, row_bytes})
    fail(ErrorKind::kShape, "{}: U8 shape {} does not hold [{}, {}] {} (expected [{}, {}])", where, shape_str(e.shape),
         b.rows, b.cols, dtype_name(b.type), b.rows, row_bytes);
  b.data = static_cast<const uint8_t*>(store.get(name).data());
  // Every block scale: NaN or Inf would poison every output the row touches.
  const int64_t bb = int64_t(dtype_block_bytes(b.type)), nb = b.cols / kQBlock;
  for (int64_t r = 0; r < b.rows; ++r)
    for (int64_t k = 0; k < nb; ++k) {
      uint16_t h;
      std::memcpy(&h, b.data + r * row_bytes + k * bb, 2);
      if ((h & 0x7c00u) == 0x7c00u)
        fail(ErrorKind::kShape, "{}: block scale of row {}, block {} is {} (fp16 bits 0x{:04x})", where, r, k,
             f16_to_f32(h), h);
    }
  return b;
}

}  // namespace frugal
