// Timeline of a pipeline schedule (pipeline_schedule.h) under given op costs, its bubble and peak
// activation memory, and the V3 report's Table 2 formulas to compare them with.
//
// Execution model: each rank runs its ops in order, one at a time; an op starts when the rank is
// free and every input has arrived (a forward needs the previous stage's forward of the same
// micro-batch, a B needs this stage's forward and the next stage's B; W needs this stage's B);
// sends are buffered and cost `comm` of latency between ranks. A kFB pair costs `fb` (F&B), a kBW
// costs b + w.
// Bubble of a rank = makespan - its busy time; the schedule's bubble is the largest over ranks.
// Activations of a rank = micro-batch chunks whose forward has run and whose weight gradient has
// not (the input must be kept until W); counted in units of one chunk's activations of one
// micro-batch, peak over the rank's op sequence (a kFB's forward is counted before its backward frees).
#pragma once
#include <string>
#include <vector>

#include "dist/pipeline_schedule.h"

namespace frugal::dist {

struct PipeCosts {
  double f = 1;    // forward of one chunk
  double b = 1;    // backward for the input
  double w = 1;    // backward for the weights
  double fb = -1;  // F&B, a forward and a whole backward overlapped; < 0: f + b + w (no overlap gain)
  double comm = 0;  // latency of one send between ranks
  double pair() const { return fb >= 0 ? fb : f + b + w; }
};

struct PipeSlot {
  PipeOp op;
  double start = 0, end = 0;
};

struct PipeSimResult {
  double makespan = 0;
  std::vector<double> busy;                  // [P]
  std::vector<double> idle;                  // [P] makespan - busy
  double bubble = 0;                         // max over ranks of idle
  std::vector<int> peak_activations;         // [P]
  int peak = 0;                              // max over ranks
  std::vector<std::vector<PipeSlot>> slots;  // [P] the ops with their times
};

// Throws kInternal naming every rank's stuck op on a deadlock (see validate_schedule).
PipeSimResult simulate_schedule(const PipeSchedule& s, const PipeCosts& c);

// Table 2 of the V3 report, in the report's terms: B_full = b + w is the whole backward of a chunk,
// F&B = c.pair(). Bubble: 1F1B (P-1)(F+B), ZB1P (P-1)(F+B-2W), DualPipe (P/2-1)(F&B+B-3W).
// Activations (chunks of one micro-batch): P, P, P+1. Parameters (per rank, x one stage): 1, 1, 2.
double table2_bubble(PipeKind k, int P, const PipeCosts& c);
int table2_activations(PipeKind k, int P);
int table2_parameters(PipeKind k);

// ASCII timeline, one row per rank, one column per `unit` of time: cells "F3" / "B3" / "W3" (a
// kBW or kFB drawn as its parts in proportion to c's costs; a cell shows the part covering its
// middle), DualPipe's direction 1 in lower case ("f9"), "." idle. Columns as wide as the longest label.
std::string render_timeline(const PipeSchedule& s, const PipeSimResult& r, const PipeCosts& c, double unit = 1);

}  // namespace frugal::dist
