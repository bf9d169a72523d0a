// The teacher's top-k soft targets (posttrain/teacher_topk.h): the kept probabilities are the
// teacher's own softmax, sorted and renormalised over the k kept; the disk cache round-trips and
// refuses stale, truncated or corrupt files by name; and logit distillation end to end lowers the
// student's soft cross-entropy to the teacher (its KL plus a constant).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "io/hf_loader.h"
#include "model/kv_cache.h"
#include "posttrain/posttrain_test_util.h"
#include "posttrain/task_data.h"
#include "posttrain/teacher_topk.h"

namespace frugal {
namespace {

using test::TempDir;

std::vector<SftExample> topk_examples() {
  SftExample a{{5, 60, 61, 62, 63, 1}, {0, 0, 1, 1, 0, 1}, 1, {}, {}};
  SftExample b{{7, 8, 9}, {0, 1, 1}, 2, {}, {}};
  return {a, b};
}

TEST(TeacherTopk, SoftTargetsAreTheTeachersRenormalisedTopK) {
  TempDir dir;
  auto lm = load_model(test::micro_model_with_tokenizer(dir, "t", "byte_v3"));
  Transformer teacher(lm->config, lm->weights);
  std::vector<SftExample> ex = topk_examples();
  const int64_t k = 5, V = lm->config.vocab_size;
  compute_teacher_topk(teacher, ex, k);
  const SftExample& e = ex[0];
  ASSERT_EQ(e.soft_ids.size(), e.tokens.size() * size_t(k));
  // The teacher's own logits, one forward: row j predicts token j + 1.
  const int64_t n = int64_t(e.tokens.size());
  std::vector<float> logits(size_t(n * V));
  LatentKvCache cache = teacher.make_cache(n);
  teacher.forward(e.tokens.data(), n, cache, logits.data());
  for (int64_t j = 0; j + 1 < n; ++j) {
    const int32_t* ids = e.soft_ids.data() + j * k;
    const float* q = e.soft_q.data() + j * k;
    if (!e.trained[size_t(j + 1)]) {
      EXPECT_TRUE(std::all_of(q, q + k, [](float v) { return v == 0.0f; })) << j;
      continue;
    }
    const float* l = logits.data() + j * V;
    std::vector<int32_t> order(static_cast<size_t>(V));
    for (int32_t i = 0; i < V; ++i) order[size_t(i)] = i;
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return l[a] > l[b]; });
    double z = 0, zk = 0, sum = 0;
    for (int64_t i = 0; i < V; ++i) z += std::exp(double(l[i]) - l[order[0]]);
    for (int64_t i = 0; i < k; ++i) zk += std::exp(double(l[order[size_t(i)]]) - l[order[0]]);
    for (int64_t i = 0; i < k; ++i) {
      EXPECT_EQ(ids[i], order[size_t(i)]) << j << "," << i;
      const double p = std::exp(double(l[order[size_t(i)]]) - l[order[0]]);
      EXPECT_NEAR(q[i], p / zk, 1e-6) << j << "," << i;  // renormalised over the k kept
      EXPECT_LE(p / z, q[i] + 1e-7);  // renormalising over k only raises a probability
      sum += q[i];
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
}

TEST(TeacherTopk, CacheRoundTripsAndRefusesBadFiles) {
  TempDir dir;
  std::vector<SftExample> ex = topk_examples();
  for (SftExample& e : ex) {
    e.soft_ids.assign(e.tokens.size() * 2, 3);
    e.soft_q.assign(e.tokens.size() * 2, 0.5f);
  }
  const std::string path = dir.file("topk.bin");
  save_teacher_topk(path, ex, 2);
  std::vector<SftExample> back = topk_examples();
  EXPECT_FALSE(load_teacher_topk(dir.file("none.bin"), back, 2, 256));
  ASSERT_TRUE(load_teacher_topk(path, back, 2, 256));
  EXPECT_EQ(back[1].soft_ids, ex[1].soft_ids);
  EXPECT_EQ(back[1].soft_q, ex[1].soft_q);
  test::expect_error([&] { load_teacher_topk(path, back, 3, 256); }, ErrorKind::kFormat, {path, "k = 2", "k = 3"});
  std::vector<SftExample> other = topk_examples();
  other[0].tokens[0] = 6;
  test::expect_error([&] { load_teacher_topk(path, other, 2, 256); }, ErrorKind::kFormat, {"other data"});
  test::expect_error([&] { load_teacher_topk(path, back, 2, 3); }, ErrorKind::kFormat, {"id 3", "vocab 3"});
  const std::string bytes = test::read_bytes(path);
  test::write_bytes(path, bytes.substr(0, bytes.size() - 5));
  test::expect_error([&] { load_teacher_topk(path, back, 2, 256); }, ErrorKind::kFormat, {path, "truncated"});
  test::write_bytes(path, "GGUF" + bytes.substr(4));
  test::expect_error([&] { load_teacher_topk(path, back, 2, 256); }, ErrorKind::kFormat, {"not a teacher top-k cache"});
}

// The "loss" of each step of RUN/metrics.jsonl.
std::vector<double> run_losses(const std::string& run) {
  std::ifstream f(run + "/metrics.jsonl");
  std::vector<double> out;
  for (std::string line; std::getline(f, line);) out.push_back(nlohmann::json::parse(line)["loss"].get<double>());
  return out;
}

TEST(DistillCli, LogitModeMovesTheStudentTowardTheTeacher) {
  // The soft cross-entropy to a fixed teacher is KL(q ‖ student) + H(q); with the same answers
  // every epoch it can only fall through the KL term, so a clear fall shows the student's
  // distribution moving toward the teacher's.
  TempDir dir;
  const std::string teacher = test::micro_model_with_tokenizer(dir, "t", "byte_v3", true, 1);
  // A dense student (MoE off), as the R1 report distilled into dense models.
  const std::string student = dir.file("s");
  const test::CommandResult made = test::run_frugal({"random-model", student, "--preset", "micro", "--dense", "--seed", "2"});
  ASSERT_EQ(made.rc, 0) << made.out;
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    std::filesystem::copy_file(std::string(FRUGAL_TEST_DATA) + "/serve/byte_v3/" + f, student + "/" + f);
  EXPECT_NE(test::read_bytes(student + "/config.json").find("\"first_k_dense_replace\": 3"), std::string::npos);
  const Task& task = find_task("sort");
  std::string prompts;
  for (const Problem& p : task_problems(task, 0, Split::kTrain, 3)) prompts += task_data_line(task, p, TaskDataFormat::kPrompts) + "\n";
  test::write_bytes(dir.file("p.jsonl"), prompts);
  const test::CommandResult r = test::run_frugal(
      {"distill", "--teacher", teacher, "--student", student, "--data", dir.file("p.jsonl"), "--mode", "logit",
       "--filter", "none", "--samples", "1", "--max-tokens", "12", "--top-k", "16", "--steps", "30", "--batch", "3",
       "--seq-len", "160", "--lr", "3e-3", "--schedule", "constant", "--mtp-weight", "0", "--log-every", "1", "--out",
       dir.file("run")});
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("soft targets: the teacher's top 16"), std::string::npos) << r.out;
  const std::vector<double> l = run_losses(dir.file("run"));
  ASSERT_EQ(l.size(), 30u);
  EXPECT_LT(l.back(), 0.7 * l.front()) << "first " << l.front() << " last " << l.back();
}

}  // namespace
}  // namespace frugal
