// Telemetry (JSON line, human line, MaxVio, cost, metrics file) and FLOPs per token (docs/training.md, FLOPs and MFU).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "core/sys.h"
#include "model/config.h"
#include "test_util.h"
#include "train/flops.h"
#include "train/telemetry.h"

namespace frugal {
namespace {

StepRecord example_record() {
  StepRecord r;
  r.step = 1200;
  r.total_steps = 20000;
  r.loss = 2.8134;
  r.mtp_loss = 3.125;
  r.balance_loss = 0.0123;
  r.lr = 2.95e-4;
  r.grad_norm = 0.91;
  r.tokens_per_s = 318000;
  r.mfu = 0.384;
  r.moe_max_violation = 0.25;
  r.elapsed_s = 7200;
  r.peak_mem_bytes = int64_t(61.2 * double(1ull << 30));
  r.device_hours = 2;
  r.usd = 4;
  r.tokens_seen = 123456789;
  r.examples_seen = 30000;
  r.nan_skips = 0;
  r.step_ms = 412;
  r.time = 1.7e9;
  return r;
}

TEST(Telemetry, JsonLineHasEveryFieldAndRoundTrips) {
  StepRecord r = example_record();
  r.val_loss = 2.9;
  const std::string line = step_record_json(r);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  for (const char* key :
       {"step",         "total_steps",  "loss",        "mtp_loss",          "balance_loss", "lr",
        "grad_norm",    "tokens_per_s", "mfu",         "moe_max_violation", "elapsed_s",    "peak_mem_bytes",
        "device_hours", "usd",          "tokens_seen", "examples_seen",     "nan_skips",    "step_ms",
        "val_loss",     "time"})
    EXPECT_NE(line.find(std::string("\"") + key + "\":"), std::string::npos) << key << " in " << line;
  const StepRecord back = step_record_from_json(line);
  EXPECT_EQ(back.step, 1200);
  EXPECT_EQ(back.total_steps, 20000);
  EXPECT_EQ(back.loss, r.loss);  // shortest round-trip text: exact
  EXPECT_EQ(back.lr, r.lr);
  EXPECT_EQ(*back.mtp_loss, 3.125);
  EXPECT_EQ(*back.val_loss, 2.9);
  EXPECT_EQ(back.peak_mem_bytes, r.peak_mem_bytes);
  EXPECT_EQ(back.tokens_seen, r.tokens_seen);
  EXPECT_EQ(back.usd, 4.0);
  EXPECT_EQ(step_record_json(back), line);
}

TEST(Telemetry, JsonNanIsNullAndOptionalsAreOmitted) {
  StepRecord r = example_record();
  r.loss = NAN;
  r.grad_norm = INFINITY;
  r.mtp_loss.reset();
  const std::string line = step_record_json(r);
  EXPECT_NE(line.find("\"loss\":null"), std::string::npos) << line;
  EXPECT_NE(line.find("\"grad_norm\":null"), std::string::npos) << line;
  EXPECT_EQ(line.find("mtp_loss"), std::string::npos);
  EXPECT_EQ(line.find("val_loss"), std::string::npos);
  const StepRecord back = step_record_from_json(line);
  EXPECT_TRUE(std::isnan(back.loss));
  EXPECT_FALSE(back.mtp_loss.has_value());
}

TEST(Telemetry, JsonParseErrors) {
  test::expect_error([] { step_record_from_json("{\"step\":3,\"lo"); }, ErrorKind::kFormat, {"not valid JSON"});
  test::expect_error([] { step_record_from_json("[1,2]"); }, ErrorKind::kFormat, {"not a JSON object"});
  test::expect_error([] { step_record_from_json("{\"loss\":1}"); }, ErrorKind::kFormat, {"\"step\""});
  test::expect_error([] { step_record_from_json("{\"step\":1,\"loss\":\"x\"}"); }, ErrorKind::kFormat, {"\"loss\""});
}

TEST(Telemetry, HumanLineIsFixedWidth) {
  const StepRecord r = example_record();
  EXPECT_EQ(format_step_line(r, 3720),
            "step  1200/20000 | loss 2.8134 | gnorm 0.91 | lr 2.95e-04 |  412 ms |  318k tok/s | mfu 38.4% | "
            "mem 61.2 GiB | skip 0 | $4.00 | eta 1h02m");
  StepRecord a = r, b = r;
  a.step = 7;
  b.step = 19999;
  a.step_ms = 9;
  b.tokens_per_s = 1500;
  EXPECT_EQ(format_step_line(a, -1).find("| loss"), format_step_line(b, 5).find("| loss"));
  EXPECT_EQ(format_step_line(a, -1).find("| mfu"), format_step_line(b, 5).find("| mfu"));
  EXPECT_NE(format_step_line(a, -1).find("eta -"), std::string::npos);
  StepRecord v = r;
  v.val_loss = 2.5;
  EXPECT_NE(format_step_line(v, 1).find("| val 2.5000 |"), std::string::npos);
}

TEST(Telemetry, MaxVio) {
  const int64_t balanced[] = {4, 4, 4, 4};
  EXPECT_EQ(moe_max_violation(balanced), 0.0);
  const int64_t skewed[] = {1, 1, 1, 5};  // mean 2, max 5
  EXPECT_DOUBLE_EQ(moe_max_violation(skewed), 1.5);
  const int64_t none[] = {0, 0, 0};
  EXPECT_EQ(moe_max_violation(none), 0.0);
  const int64_t layers[] = {4, 4, 4, 4, 1, 1, 1, 5};
  EXPECT_DOUBLE_EQ(moe_max_violation_layers(layers, 2, 4), 0.75);
}

TEST(Telemetry, Cost) {
  StepRecord r;
  r.elapsed_s = 3 * 3600;
  fill_cost(r, 2.0, 2);
  EXPECT_DOUBLE_EQ(r.device_hours, 6.0);
  EXPECT_DOUBLE_EQ(r.usd, 12.0);
}

std::string read_stream(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) s.append(buf, n);
  return s;
}

TEST(Telemetry, WritesMetricsFileAndPlainLines) {
  test::TempDir dir;
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  const std::string run = dir.file("run");
  {
    TelemetryOptions opt;
    opt.out = out;
    opt.tty = 0;
    opt.usd_per_hour = 3600.0;  // $1 per second makes the meter visible in a fast test
    opt.prior_elapsed_s = 10;
    Telemetry t(run, opt);
    StepRecord r = example_record();
    r.step = 1;
    r.total_steps = 3;
    const StepRecord done = t.log(r);
    EXPECT_GE(done.elapsed_s, 10.0);
    EXPECT_NEAR(done.usd, done.elapsed_s, 1e-9);
    EXPECT_GT(done.peak_mem_bytes, 0);
    EXPECT_GT(done.time, 1.6e9);
    t.progress(r);  // not a terminal: prints nothing
    t.message("checkpoint saved");
    r.step = 2;
    t.log(r);
    EXPECT_EQ(t.metrics_path(), run + "/metrics.jsonl");
  }
  const std::string text = test::read_bytes(run + "/metrics.jsonl");
  ASSERT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
  const StepRecord first = step_record_from_json(text.substr(0, text.find('\n')));
  EXPECT_EQ(first.step, 1);
  EXPECT_GE(first.elapsed_s, 10.0);
  const std::string human = read_stream(out);
  std::fclose(out);
  EXPECT_EQ(human.find('\r'), std::string::npos) << human;
  EXPECT_NE(human.find("step 1/3 | loss 2.8134"), std::string::npos) << human;
  EXPECT_NE(human.find("checkpoint saved\nstep 2/3"), std::string::npos) << human;
}

TEST(Telemetry, LiveLineOnTerminal) {
  test::TempDir dir;
  std::FILE* out = std::tmpfile();
  {
    TelemetryOptions opt;
    opt.out = out;
    opt.tty = 1;
    Telemetry t(dir.str(), opt);
    StepRecord r = example_record();
    t.progress(r);
    t.log(r);
  }
  const std::string human = read_stream(out);
  std::fclose(out);
  EXPECT_EQ(human.rfind("\r", 0), 0u) << human;                                 // the live line
  EXPECT_NE(human.find("\r\033[Kstep  1200/20000 | loss"), std::string::npos);  // cleared before the log line
}

TEST(Telemetry, AppendAfterKilledRunDropsCutOffLine) {
  test::TempDir dir;
  StepRecord r = example_record();
  r.step = 1;
  test::write_bytes(dir.file("metrics.jsonl"), step_record_json(r) + "\n{\"step\":2,\"lo");
  {
    TelemetryOptions opt;
    opt.out = nullptr;
    Telemetry t(dir.str(), opt);
    r.step = 2;
    t.log(r);
  }
  const std::string text = test::read_bytes(dir.file("metrics.jsonl"));
  ASSERT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
  EXPECT_EQ(step_record_from_json(text.substr(text.find('\n') + 1)).step, 2);
}

TEST(Telemetry, RunDirErrorsNamePath) {
  test::TempDir dir;
  test::write_bytes(dir.file("file"), "x");
  test::expect_error([&] { Telemetry t(dir.file("file") + "/run"); }, ErrorKind::kIo, {"file/run"});
}

// DeepSeek-V3 from docs/model.md, Released configurations.
DeepSeekConfig v3_config() {
  DeepSeekConfig c;
  c.model_type = "deepseek_v3";
  c.vocab_size = 129280;
  c.hidden_size = 7168;
  c.intermediate_size = 18432;
  c.moe_intermediate_size = 2048;
  c.num_hidden_layers = 61;
  c.num_nextn_predict_layers = 1;
  c.num_attention_heads = 128;
  c.q_lora_rank = 1536;
  c.kv_lora_rank = 512;
  c.qk_nope_head_dim = 128;
  c.qk_rope_head_dim = 64;
  c.v_head_dim = 128;
  c.n_routed_experts = 256;
  c.n_shared_experts = 1;
  c.num_experts_per_tok = 8;
  c.n_group = 8;
  c.topk_group = 4;
  c.topk_method = TopkMethod::kNoauxTc;
  c.scoring_func = ScoringFunc::kSigmoid;
  c.norm_topk_prob = true;
  c.routed_scaling_factor = 2.5;
  c.first_k_dense_replace = 3;
  c.moe_layer_freq = 1;
  return c;
}

TEST(Flops, ReproducesSpecV3Numbers) {
  const TrainingFlops f = training_flops_per_token(v3_config(), 4096, true);
  // N = (37,552,297,472 − 926,679,040) main + 1,614,779,648 MTP (layer, eh_proj, norms, head).
  EXPECT_EQ(f.n_params, 38'240'398'080);
  EXPECT_NEAR(f.params_flops / 1e9, 229.4, 0.05);              // "6N ≈ 229.4 GFLOP/token"
  EXPECT_NEAR(f.attention_flops / 1e9, 31.2, 0.05);            // "causal half → 31.2 GFLOP/token"
  EXPECT_EQ(f.attention_flops, 3.0 * 335'544'320.0 / 2 * 62);  // 335.5 MFLOP full-T forward, 62 layers
  EXPECT_NEAR(f.total / 1e9, 261, 0.5);                        // "≈ 261 GFLOP/token"
  EXPECT_NEAR(f.total * 14.8e12 / 1e24, 3.86, 0.01);           // "3.86e24 FLOPs"
  // 14.8T tokens in 2.664M GPU-hours on a 989 TFLOPS BF16 peak: ≈ 402 TFLOPS, MFU ≈ 40.7%.
  const double tokens_per_s = 14.8e12 / (2.664e6 * 3600);
  EXPECT_NEAR(f.total * tokens_per_s / 1e12, 402, 1.0);
  EXPECT_NEAR(model_flops_utilization(f.total, tokens_per_s, 989e3), 0.407, 0.002);
  EXPECT_EQ(model_flops_utilization(f.total, tokens_per_s, 0), 0.0);
}

TEST(Flops, WithoutMtp) {
  const TrainingFlops f = training_flops_per_token(v3_config(), 4096, false);
  EXPECT_EQ(f.n_params, 37'552'297'472 - 926'679'040);  // 36.63B (docs/training.md, FLOPs and MFU)
  EXPECT_EQ(f.attention_flops, 3.0 * 335'544'320.0 / 2 * 61);
  DeepSeekConfig no_mtp = v3_config();
  no_mtp.num_nextn_predict_layers = 0;
  EXPECT_EQ(training_flops_per_token(no_mtp, 4096, true).total, f.total);
  test::expect_error([] { training_flops_per_token(v3_config(), 0, true); }, ErrorKind::kInvalidArgument, {"seq_len"});
}

TEST(Flops, SgemmPeakIsMeasured) {
  const double t0 = now_seconds();
  const double gflops = measure_sgemm_peak_gflops(0.05);
  EXPECT_GT(gflops, 0.5);
  EXPECT_LT(gflops, 1e6);
  EXPECT_LT(now_seconds() - t0, 10.0);
}

}  // namespace
}  // namespace frugal
