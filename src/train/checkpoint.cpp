#include "train/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include <fmt/ranges.h>

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "io/safetensors.h"

namespace frugal {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kFormatName = "frugal-checkpoint";
constexpr int kFormatVersion = 1;
constexpr const char* kStateFile = "state.safetensors";
constexpr const char* kMetaFile = "meta.json";
constexpr const char* kLatestFile = "latest";
constexpr const char* kTmpSuffix = ".tmp";

// CRC-32 (zlib's, the same as `crc32` / Python's zlib.crc32), over any length. zlib returns the
// initial value for a null buffer, which would reset a running crc: empty tensors have no data.
uint32_t crc32_of(uint32_t crc, const void* data, size_t n) {
  if (n == 0) return crc;
  return uint32_t(::crc32_z(crc, static_cast<const Bytef*>(data), n));
}

std::string crc_hex(uint32_t crc) { return fmt::format("{:08x}", crc); }

// Why a write failed, with the hint a user needs when the disk is full.
[[noreturn]] void fail_write(const std::string& path, int err) {
  const bool full = err == ENOSPC || err == EFBIG || err == EDQUOT;
  fail(ErrorKind::kIo, "cannot write checkpoint file {}: {}{}", path, std::strerror(err),
       full ? " (disk full or file size limit reached; the previous checkpoint is untouched)" : "");
}

// A file written and fsynced by hand: the step directory, not each file, is the atomic unit.
class SyncedFile {
 public:
  explicit SyncedFile(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) fail(ErrorKind::kIo, "cannot create checkpoint file {}: {}", path_, std::strerror(errno));
  }
  ~SyncedFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  SyncedFile(const SyncedFile&) = delete;
  SyncedFile& operator=(const SyncedFile&) = delete;

  void write(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    crc_ = crc32_of(crc_, p, n);
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        fail_write(path_, errno);
      }
      p += w, n -= size_t(w), bytes_ += uint64_t(w);
    }
  }
  void sync_close() {
    if (::fsync(fd_) != 0) fail_write(path_, errno);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail_write(path_, errno);
  }
  uint64_t bytes() const { return bytes_; }
  uint32_t crc() const { return crc_; }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t bytes_ = 0;
  uint32_t crc_ = 0;
};

void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail(ErrorKind::kIo, "cannot open directory {} to sync it: {}", dir, std::strerror(errno));
  const int rc = ::fsync(fd), err = errno;
  ::close(fd);
  if (rc != 0) fail(ErrorKind::kIo, "cannot sync directory {}: {}", dir, std::strerror(err));
}

void rename_or_fail(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    fail(ErrorKind::kIo, "cannot rename {} to {}: {}", from, to, std::strerror(errno));
}

// "step_" + at least 8 digits, exactly as checkpoint_dir_name writes it.
std::optional<int64_t> parse_step_name(const std::string& name) {
  if (!name.starts_with("step_") || name.size() < 13 || name.size() > 23) return std::nullopt;
  int64_t step = 0;
  for (size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    step = step * 10 + (name[i] - '0');
  }
  if (checkpoint_dir_name(step) != name) return std::nullopt;
  return step;
}

// Leftovers of a killed save: step_*.tmp directories and write_file_atomic's hidden temp for `latest`.
void remove_leftovers(const std::string& ckpt) {
  std::error_code ec;
  std::vector<fs::path> doomed;
  for (auto it = fs::directory_iterator(ckpt, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if ((name.starts_with("step_") && name.ends_with(kTmpSuffix)) || name.starts_with(".latest.tmp."))
      doomed.push_back(it->path());
  }
  for (const fs::path& p : doomed) fs::remove_all(p, ec);
}

void check_tensors(const std::vector<CheckpointTensor>& tensors) {
  std::set<std::string> names;
  for (const CheckpointTensor& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__")
      fail(ErrorKind::kInvalidArgument, "checkpoint tensor name '{}' is not allowed", t.name);
    if (!names.insert(t.name).second) fail(ErrorKind::kInvalidArgument, "duplicate checkpoint tensor '{}'", t.name);
    for (int64_t d : t.shape)
      if (d < 0) fail(ErrorKind::kInvalidArgument, "checkpoint tensor '{}' has shape {}", t.name, shape_str(t.shape));
    if (shape_numel(t.shape) > 0 && !t.data)
      fail(ErrorKind::kInvalidArgument, "checkpoint tensor '{}' has no data", t.name);
  }
}

// state.safetensors, streamed straight from the caller's memory (no copy of the model).
void write_state(const std::string& path, const std::vector<CheckpointTensor>& tensors, uint64_t* bytes,
                 uint32_t* crc) {
  json header = json::object();
  header["__metadata__"] = {{"format", kFormatName}};
  uint64_t offset = 0;
  for (const CheckpointTensor& t : tensors) {
    const uint64_t end = offset + uint64_t(shape_numel(t.shape)) * sizeof(float);
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps every f32 4-aligned in a mapping
  char len[8];
  for (int i = 0; i < 8; ++i) len[i] = char((uint64_t(text.size()) >> (8 * i)) & 0xff);

  SyncedFile f(path);
  f.write(len, 8);
  f.write(text.data(), text.size());
  for (const CheckpointTensor& t : tensors) f.write(t.data, size_t(shape_numel(t.shape)) * sizeof(float));
  f.sync_close();
  *bytes = f.bytes();
  *crc = f.crc();
}

std::string dump_meta(const json& meta) {
  try {
    return meta.dump();
  } catch (const json::exception& e) {
    fail(ErrorKind::kInvalidArgument, "checkpoint meta cannot be written as JSON: {}", e.what());
  }
}

// Keeps the `keep_last` newest checkpoints with step <= `step`; never touches newer ones.
void prune(const std::string& run_dir, int64_t step, int keep_last) {
  if (keep_last <= 0) return;
  std::vector<int64_t> older;
  for (int64_t s : list_checkpoint_steps(run_dir))
    if (s < step) older.push_back(s);
  const size_t keep_older = size_t(keep_last - 1);
  if (older.size() <= keep_older) return;
  const std::string ckpt = path_join(run_dir, "ckpt");
  std::error_code ec;  // a checkpoint we could not delete costs disk space, not correctness
  for (size_t i = 0; i + keep_older < older.size(); ++i)
    fs::remove_all(path_join(ckpt, checkpoint_dir_name(older[i])), ec);
}

const json& field(const json& doc, const char* key, const std::string& path) {
  auto it = doc.find(key);
  if (it == doc.end()) fail(ErrorKind::kFormat, "{}: missing '{}'", path, key);
  return *it;
}

// Loads one step directory, checking everything; throws Error naming the file and the problem.
LoadedCheckpoint load_dir(const std::string& dir, std::optional<int64_t> expected_step) {
  if (!is_directory(dir)) fail(ErrorKind::kFormat, "{}: no such checkpoint directory", dir);
  const std::string meta_path = path_join(dir, kMetaFile);
  if (!file_exists(meta_path)) fail(ErrorKind::kFormat, "{}: missing", meta_path);
  // Depth-limited: a too-deep meta.json is one more corruption to fall back from, not a stack
  // overflow in the copies and dumps below.
  const json doc = parse_json(read_file(meta_path), meta_path);
  if (!doc.is_object()) fail(ErrorKind::kFormat, "{}: expected a JSON object", meta_path);
  const json& format = field(doc, "format", meta_path);
  if (format != kFormatName)
    fail(ErrorKind::kFormat, "{}: 'format' is {}, expected \"{}\"", meta_path, format.dump(), kFormatName);
  const json& version = field(doc, "version", meta_path);
  if (version != kFormatVersion)
    fail(ErrorKind::kFormat, "{}: unsupported checkpoint version {} (this build reads {})", meta_path, version.dump(),
         kFormatVersion);
  const json& step = field(doc, "step", meta_path);
  if (!step.is_number_integer() || step.get<int64_t>() < 0)
    fail(ErrorKind::kFormat, "{}: 'step' must be a non-negative integer, found {}", meta_path, step.dump());
  if (expected_step && step.get<int64_t>() != *expected_step)
    fail(ErrorKind::kFormat, "{}: 'step' is {} but the directory is for step {}", meta_path, step.get<int64_t>(),
         *expected_step);

  const json& files = field(doc, "files", meta_path);
  if (!files.is_object() || !files.contains(kStateFile))
    fail(ErrorKind::kFormat, "{}: 'files' must be an object listing {}", meta_path, kStateFile);
  for (const auto& [name, info] : files.items()) {
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
      fail(ErrorKind::kFormat, "{}: file name '{}' must be a plain name inside the directory", meta_path, name);
    const std::string path = path_join(dir, name);
    if (!info.is_object() || !info.contains("bytes") || !info["bytes"].is_number_unsigned() ||
        !info.contains("crc32") || !info["crc32"].is_string())
      fail(ErrorKind::kFormat, "{}: entry for '{}' needs 'bytes' (integer) and 'crc32' (hex string)", meta_path, name);
    if (!file_exists(path)) fail(ErrorKind::kFormat, "{}: missing", path);
    const uint64_t want = info["bytes"].get<uint64_t>();
    const MappedFile m(path);
    if (m.size() < want) fail(ErrorKind::kFormat, "{}: truncated: {} bytes, expected {}", path, m.size(), want);
    if (m.size() != want) fail(ErrorKind::kFormat, "{}: {} bytes, expected {}", path, m.size(), want);
    const std::string got = crc_hex(crc32_of(0, m.data(), m.size()));
    if (got != info["crc32"].get<std::string>())
      fail(ErrorKind::kFormat, "{}: checksum mismatch (crc32 {}, expected {}): the file is corrupt", path, got,
           info["crc32"].get<std::string>());
  }

  LoadedCheckpoint ck;
  ck.step = step.get<int64_t>();
  ck.dir = dir;
  ck.meta = field(doc, "meta", meta_path);
  const json& meta_crc = field(doc, "meta_crc32", meta_path);
  const std::string meta_text = ck.meta.dump();
  if (!meta_crc.is_string() || crc_hex(crc32_of(0, meta_text.data(), meta_text.size())) != meta_crc)
    fail(ErrorKind::kFormat, "{}: checksum mismatch of 'meta': the file is corrupt", meta_path);
  ck.state = std::make_shared<SafetensorsFile>(path_join(dir, kStateFile));
  for (const SafetensorsEntry& e : ck.state->entries())
    if (e.dtype != DType::kF32)
      fail(ErrorKind::kFormat, "{}: tensor '{}' is {}, checkpoints hold F32 only", ck.state->path(), e.name,
           dtype_name(e.dtype));
  return ck;
}

}  // namespace

std::string checkpoint_dir_name(int64_t step) { return fmt::format("step_{:08d}", step); }

std::vector<int64_t> list_checkpoint_steps(const std::string& run_dir) {
  const std::string ckpt = path_join(run_dir, "ckpt");
  std::vector<int64_t> steps;
  std::error_code ec;
  for (auto it = fs::directory_iterator(ckpt, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::error_code ec2;
    if (!it->is_directory(ec2)) continue;
    if (auto s = parse_step_name(it->path().filename().string())) steps.push_back(*s);
  }
  std::sort(steps.begin(), steps.end());
  return steps;
}

void save_checkpoint(const std::string& run_dir, int64_t step, const std::vector<CheckpointTensor>& tensors,
                     const json& meta, int keep_last) {
  if (step < 0) fail(ErrorKind::kInvalidArgument, "checkpoint step {} must be >= 0", step);
  check_tensors(tensors);
  const std::string meta_text = dump_meta(meta);
  const std::string ckpt = path_join(run_dir, "ckpt");
  std::error_code ec;
  const bool created = fs::create_directories(ckpt, ec);
  if (ec) fail(ErrorKind::kIo, "cannot create checkpoint directory {}: {}", ckpt, ec.message());
  if (created) {  // make the new ckpt/ entry itself durable (best effort: the run dir is the caller's)
    const fs::path parent = fs::path(ckpt).parent_path();
    const int fd = ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) ::fsync(fd), ::close(fd);
  }
  remove_leftovers(ckpt);

  const std::string name = checkpoint_dir_name(step);
  const std::string final_dir = path_join(ckpt, name), tmp_dir = final_dir + kTmpSuffix;
  const std::string old_dir = final_dir + ".old" + kTmpSuffix;
  try {
    fs::create_directory(tmp_dir, ec);
    if (ec) fail(ErrorKind::kIo, "cannot create {}: {}", tmp_dir, ec.message());
    uint64_t state_bytes = 0;
    uint32_t state_crc = 0;
    write_state(path_join(tmp_dir, kStateFile), tensors, &state_bytes, &state_crc);

    const json doc = {{"format", kFormatName},
                      {"version", kFormatVersion},
                      {"step", step},
                      {"files", {{kStateFile, {{"bytes", state_bytes}, {"crc32", crc_hex(state_crc)}}}}},
                      {"meta", meta},
                      {"meta_crc32", crc_hex(crc32_of(0, meta_text.data(), meta_text.size()))}};
    const std::string text = doc.dump(2) + "\n";
    SyncedFile mf(path_join(tmp_dir, kMetaFile));
    mf.write(text.data(), text.size());
    mf.sync_close();
    fsync_dir(tmp_dir);

    // Re-saving a step (after resuming from an older one): move the old directory aside first,
    // since rename() cannot replace a non-empty directory. A crash in between leaves both under
    // *.tmp names, which load ignores and the next save removes.
    const bool replacing = is_directory(final_dir);
    if (replacing) rename_or_fail(final_dir, old_dir);
    rename_or_fail(tmp_dir, final_dir);
    fsync_dir(ckpt);
    if (replacing) fs::remove_all(old_dir, ec);
    write_file_atomic(path_join(ckpt, kLatestFile), name + "\n");
  } catch (...) {
    fs::remove_all(tmp_dir, ec);  // best effort; a leftover is ignored by load anyway
    // Failed between moving a re-saved step aside and putting the new one in place: restore it.
    if (!is_directory(final_dir) && is_directory(old_dir)) fs::rename(old_dir, final_dir, ec);
    throw;
  }
  prune(run_dir, step, keep_last);
}

std::optional<std::string> verify_checkpoint_dir(const std::string& step_dir) {
  const std::optional<int64_t> step = parse_step_name(fs::path(step_dir).filename().string());
  try {
    load_dir(step_dir, step);
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

LoadedCheckpoint load_checkpoint(const std::string& run_dir, int64_t step) {
  return load_dir(path_join(path_join(run_dir, "ckpt"), checkpoint_dir_name(step)), step);
}

std::optional<LoadedCheckpoint> load_latest_checkpoint(const std::string& run_dir) {
  const std::string ckpt = path_join(run_dir, "ckpt");
  if (!is_directory(ckpt)) return std::nullopt;
  std::vector<int64_t> steps = list_checkpoint_steps(run_dir);
  std::reverse(steps.begin(), steps.end());  // newest first
  std::vector<std::string> warnings;

  const std::string latest_path = path_join(ckpt, kLatestFile);
  const bool have_latest = file_exists(latest_path);
  std::optional<int64_t> latest;
  if (have_latest) {
    try {
      std::string text = read_file(latest_path);
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
      latest = parse_step_name(text);
      if (!latest)
        warnings.push_back(fmt::format("{}: garbage content (expected a name like step_00001000); using the newest "
                                       "checkpoint directory", latest_path));
    } catch (const Error& e) {
      warnings.push_back(fmt::format("{}; using the newest checkpoint directory", e.what()));
    }
  } else if (!steps.empty()) {
    warnings.push_back(fmt::format("{}: missing; using the newest checkpoint directory", latest_path));
  }
  if (!have_latest && steps.empty()) return std::nullopt;

  // `latest` is authoritative when readable: directories newer than it belong to an abandoned
  // branch (a run resumed from an older step) and are not candidates.
  std::vector<int64_t> candidates;
  if (latest) candidates.push_back(*latest);
  for (int64_t s : steps)
    if (!latest || s < *latest) candidates.push_back(s);

  std::vector<std::string> problems;
  for (int64_t s : candidates) {
    const std::string dir = path_join(ckpt, checkpoint_dir_name(s));
    try {
      LoadedCheckpoint ck = load_dir(dir, s);
      ck.warnings = std::move(warnings);
      return ck;
    } catch (const std::exception& e) {
      problems.push_back(e.what());
      warnings.push_back(fmt::format("checkpoint {} is unusable: {}; falling back to an older one", dir, e.what()));
    }
  }
  fail(ErrorKind::kFormat, "no valid checkpoint in {}{}{}", ckpt, problems.empty() ? "" : ": ",
       fmt::format("{}", fmt::join(problems, "; ")));
}

// ---------------------------------------------------------------------------------------------
// LoadedCheckpoint

bool LoadedCheckpoint::has(const std::string& name) const { return state && state->has(name); }

std::vector<std::string> LoadedCheckpoint::names() const {
  std::vector<std::string> out;
  if (state)
    for (const SafetensorsEntry& e : state->entries()) out.push_back(e.name);
  return out;
}

const Shape& LoadedCheckpoint::shape(const std::string& name) const {
  if (!has(name)) fail(ErrorKind::kFormat, "checkpoint {} has no tensor '{}'", dir, name);
  return state->entry(name).shape;
}

std::span<const float> LoadedCheckpoint::f32(const std::string& name, int64_t expected_numel) const {
  const Shape& s = shape(name);
  const int64_t n = shape_numel(s);
  if (expected_numel >= 0 && n != expected_numel)
    fail(ErrorKind::kFormat, "checkpoint {}: tensor '{}' has {} elements (shape {}), expected {}", dir, name, n,
         shape_str(s), expected_numel);
  const Tensor t = state->tensor(name);
  return {t.data_as<const float>(), size_t(n)};
}

void LoadedCheckpoint::copy_to(const std::string& name, float* dst, int64_t n) const {
  const std::span<const float> src = f32(name, n);
  std::copy(src.begin(), src.end(), dst);
}

}  // namespace frugal
