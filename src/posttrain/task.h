// Verifiable tasks for post-training (docs/posttrain.md, Tasks): procedurally generated problems
// whose answers a rule checks exactly. A task is one row of the registry in task.cpp: its name,
// its help, a generator of one random problem, and a checker of a parsed answer; adding a task
// is writing those two functions and adding the row.
//
// Train and evaluation splits are disjoint by construction: a problem's split is a fixed hash of
// its canonical key (split_of), the same for every seed, so an evaluation problem can never be
// drawn for training. The i-th problem of a split for a seed is a pure function of (task, seed,
// split, i): problems are drawn from a stream seeded by (seed, split, i) until one lands in the
// split.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/rng.h"

namespace frugal {

enum class Split { kTrain, kEval };
const char* split_name(Split s);  // "train" | "eval"

struct Problem {
  std::string key;        // canonical identity (decides the split): equal keys are the same problem
  std::string question;   // the task itself, without the answer-format instruction (prompt.h adds it)
  std::string reference;  // one correct answer, as the model should write it
  std::vector<int64_t> numbers;  // the task's data for its checker (operands, given numbers, list)
  int64_t target = 0;            // the value to reach, where the task has one
};

struct Task {
  std::string_view name, help;
  Problem (*make)(Rng& rng);                                 // one random problem, either split
  bool (*check)(const Problem& p, std::string_view answer);  // answer: the parsed answer text (answer.h)
};

// The registry, in a fixed order; find_task throws kInvalidArgument naming the known tasks.
const std::vector<Task>& task_registry();
const Task& find_task(std::string_view name);
std::string task_names();  // "arithmetic, addsub, countdown, sort"

// 1 in 8 keys is an evaluation problem.
Split split_of(std::string_view key);

// The index-th problem of `split` for `seed`.
Problem task_problem(const Task& task, uint64_t seed, Split split, int64_t index);
// The first n distinct problems (by key) of the split, in order: a prefix of a longer list. Throws
// kInvalidArgument when the task cannot supply n distinct problems (a tiny problem space).
std::vector<Problem> task_problems(const Task& task, uint64_t seed, Split split, int64_t n);

// The built-in tasks (one file each).
Task arithmetic_task();  // task_arithmetic.cpp
Task addsub_task();      // task_arithmetic.cpp
Task countdown_task();   // task_countdown.cpp
Task sort_task();        // task_sort.cpp

}  // namespace frugal
