#include "posttrain/teacher_topk.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "core/error.h"
#include "core/file.h"
#include "core/progress.h"
#include "model/kv_cache.h"

namespace frugal {

namespace {

constexpr char kTopkMagic[8] = {'F', 'R', 'U', 'G', 'A', 'L', 'T', 'K'};
constexpr uint32_t kTopkVersion = 1;

// The k largest of softmax(l) over V, probabilities renormalised to sum 1 over them.
void top_k_row(const float* l, int64_t V, int64_t k, std::vector<int32_t>& idx, int32_t* ids, float* q) {
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                    [&](int32_t a, int32_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
  const double m = l[idx[0]];
  double z = 0;
  for (int64_t j = 0; j < k; ++j) z += std::exp(double(l[idx[size_t(j)]]) - m);
  for (int64_t j = 0; j < k; ++j) {
    ids[j] = idx[size_t(j)];
    q[j] = float(std::exp(double(l[idx[size_t(j)]]) - m) / z);
  }
}

template <typename T>
void put(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

}  // namespace

void compute_teacher_topk(Transformer& teacher, std::vector<SftExample>& ex, int64_t k) {
  const int64_t V = teacher.config().vocab_size;
  if (k < 1 || k > V) fail(ErrorKind::kInvalidArgument, "distill.top_k = {}: must be in [1, vocab_size = {}]", k, V);
  std::vector<float> logits;
  std::vector<int32_t> idx(static_cast<size_t>(V));
  Progress progress("distill: teacher top-k", int64_t(ex.size()), "examples");
  for (size_t i = 0; i < ex.size(); ++i) {
    SftExample& e = ex[i];
    const int64_t n = int64_t(e.tokens.size());
    e.soft_ids.assign(size_t(n * k), 0);
    e.soft_q.assign(size_t(n * k), 0.0f);
    if (n < 2) continue;
    LatentKvCache cache = teacher.make_cache(n);
    logits.resize(size_t(n * V));
    teacher.forward(e.tokens.data(), n, cache, logits.data());  // throws for bad ids or a too-long example
    for (int64_t j = 0; j + 1 < n; ++j)
      if (e.trained[size_t(j + 1)])
        top_k_row(logits.data() + j * V, V, k, idx, e.soft_ids.data() + j * k, e.soft_q.data() + j * k);
    progress.update(int64_t(i + 1));
  }
  progress.finish();
}

void save_teacher_topk(const std::string& path, const std::vector<SftExample>& ex, int64_t k) {
  std::string out(kTopkMagic, sizeof(kTopkMagic));
  put(out, kTopkVersion);
  put(out, uint64_t(k));
  put(out, uint64_t(ex.size()));
  put(out, sft_examples_fingerprint(ex));
  for (const SftExample& e : ex) {
    put(out, uint64_t(e.tokens.size()));
    out.append(reinterpret_cast<const char*>(e.soft_ids.data()), e.soft_ids.size() * sizeof(int32_t));
    out.append(reinterpret_cast<const char*>(e.soft_q.data()), e.soft_q.size() * sizeof(float));
  }
  write_file_atomic(path, out);
}

bool load_teacher_topk(const std::string& path, std::vector<SftExample>& ex, int64_t k, int64_t vocab) {
  if (!file_exists(path)) return false;
  const std::string data = read_file(path);
  size_t pos = 0;
  auto take = [&](void* dst, size_t n, const char* what) {
    if (data.size() - pos < n) fail(ErrorKind::kFormat, "{}: truncated at {} (offset {})", path, what, pos);
    std::memcpy(dst, data.data() + pos, n);
    pos += n;
  };
  char magic[8];
  uint32_t version = 0;
  uint64_t kk = 0, n_ex = 0, fp = 0;
  take(magic, sizeof(magic), "the magic");
  if (std::memcmp(magic, kTopkMagic, sizeof(magic)) != 0) fail(ErrorKind::kFormat, "{}: not a teacher top-k cache", path);
  take(&version, sizeof(version), "the version");
  if (version != kTopkVersion) fail(ErrorKind::kFormat, "{}: version {} (this build reads {})", path, version, kTopkVersion);
  take(&kk, sizeof(kk), "k");
  take(&n_ex, sizeof(n_ex), "the example count");
  take(&fp, sizeof(fp), "the fingerprint");
  if (kk != uint64_t(k) || n_ex != ex.size() || fp != sft_examples_fingerprint(ex))
    fail(ErrorKind::kFormat,
         "{}: a cache of {} examples at k = {} for other data (this run: {} examples, k = {}); delete it to recompute",
         path, n_ex, kk, ex.size(), k);
  for (SftExample& e : ex) {
    uint64_t n = 0;
    take(&n, sizeof(n), "an example's length");
    if (n != e.tokens.size()) fail(ErrorKind::kFormat, "{}: example of {} tokens where {} were expected", path, n, e.tokens.size());
    e.soft_ids.resize(size_t(n) * size_t(k));
    e.soft_q.resize(size_t(n) * size_t(k));
    take(e.soft_ids.data(), e.soft_ids.size() * sizeof(int32_t), "the ids");
    take(e.soft_q.data(), e.soft_q.size() * sizeof(float), "the probabilities");
    for (size_t i = 0; i < e.soft_ids.size(); ++i)
      if (e.soft_ids[i] < 0 || e.soft_ids[i] >= vocab || !(e.soft_q[i] >= 0 && e.soft_q[i] <= 1))
        fail(ErrorKind::kFormat, "{}: soft target {} is id {} with probability {} (vocab {})", path, i, e.soft_ids[i],
             e.soft_q[i], vocab);
  }
  if (pos != data.size()) fail(ErrorKind::kFormat, "{}: {} bytes after the last example", path, data.size() - pos);
  return true;
}

}  // namespace frugal
