// `frugal plan-pipeline` end to end: the timelines and the Table 2 / simulated columns for P = 4,
// M = 8 (values worked out in tests/dist/test_pipeline_schedule.cpp's terms: 1F1B 3(1+2) = 9, ZB1P
// 3(1+2-2) = 3, DualPipe 1(3+2-3) = 2; activations 4, 4, 5), --measure on a tiny model, and the
// errors naming the constraint for shapes a schedule cannot take.
#include <gtest/gtest.h>

#include <regex>

#include "test_util.h"

namespace frugal::test {
namespace {

std::string plan(const std::string& args) { return std::string(FRUGAL_BINARY) + " plan-pipeline " + args + " 2>&1"; }

TEST(PlanPipeline, TimelinesAndTable2) {
  const CommandResult r = run_command(plan("--stages 4 --micro-batches 8"));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("rank 3 |.  .  .  F0 B0 W0 F1 B1 W1"), std::string::npos) << r.out;  // 1F1B's last rank
  EXPECT_NE(r.out.find("rank 0 |F0 F1 F2 f4 b4 w4"), std::string::npos) << r.out;          // DualPipe, both ends
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(1f1b +\(P-1\)\(F\+B\) +9 +9 +4 +4 +1x)"))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(zb1p +\(P-1\)\(F\+B-2W\) +3 +3 +4 +4 +1x)"))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(dualpipe +\(P/2-1\)\(F&B\+B-3W\) +2 +2 +5 +5 +2x)"))) << r.out;
}

TEST(PlanPipeline, MeasureRunsEverySchedule) {
  const CommandResult r =
      run_command(plan("--stages 2 --micro-batches 4 --measure --hidden 16 --intermediate 16 --rows 8 --seq 4"));
  ASSERT_EQ(r.rc, 0) << r.out;
  for (const char* k : {"1f1b", "zb1p", "dualpipe"})
    EXPECT_TRUE(std::regex_search(r.out, std::regex(std::string(k) + R"( +-?[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+%)")))
        << k << "\n" << r.out;
  EXPECT_NE(r.out.find("ISA"), std::string::npos);
}

TEST(PlanPipeline, BadShapesAreNamed) {
  CommandResult r = run_command(plan("--stages 3 --micro-batches 8"));
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("dualpipe needs an even number of stages"), std::string::npos) << r.out;
  r = run_command(plan("--stages 4 --micro-batches 6 --schedules dualpipe"));
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("M >= 2P"), std::string::npos) << r.out;
  r = run_command(plan("--stages 3 --micro-batches 8 --schedules 1f1b,zb1p"));
  EXPECT_EQ(r.rc, 0) << r.out;
  r = run_command(plan("--stages 2 --micro-batches 4 --schedules gpipe"));
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("unknown pipeline schedule 'gpipe'"), std::string::npos) << r.out;
  r = run_command(plan("--stages 0 --micro-batches 4 --schedules 1f1b"));
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("stages P = 0"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace frugal::test
