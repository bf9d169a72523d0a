// Checks of every collective against plain references, written once and run by both the
// in-process gtest (test_communicator.cpp) and the MPI program (mpi_collectives_main.cpp, under
// mpirun). Each check returns the problems it found ("" per success is not recorded).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "dist/communicator.h"

namespace frugal::dist::testing {

// Values of very different magnitudes, so a different summation order changes the low bits
// (a check of the order, not only of the set of addends).
template <class T>
T part_value(int rank, int64_t i) {
  const double mag = std::ldexp(1.0, int((rank * 7 + i * 3) % 41) - 20);
  return T(mag * (1.0 + 0.001 * double((i * 131 + rank * 17) % 997)) * (((i + rank) % 3 == 0) ? -1 : 1));
}

// The reference order: S(lo, hi) = S(lo, lo + h) + S(lo + h, hi), h the largest power of two
// below hi - lo, written as plain recursion (independent of the library's stack form).
template <class T>
T ref_tree(int lo, int hi, int64_t i) {
  if (hi - lo == 1) return part_value<T>(lo, i);
  int h = 1;
  while (h * 2 < hi - lo) h *= 2;
  return T(ref_tree<T>(lo, lo + h, i) + ref_tree<T>(lo + h, hi, i));
}

template <class T>
bool same_bits(T a, T b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

template <class T>
void check_all_reduce(Communicator& c, int64_t n, std::vector<std::string>& bad) {
  std::vector<T> buf(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) buf[size_t(i)] = part_value<T>(c.rank(), i);
  c.all_reduce_sum(buf.data(), n);
  for (int64_t i = 0; i < n; ++i)
    if (!same_bits(buf[size_t(i)], ref_tree<T>(0, c.size(), i))) {
      bad.push_back(fmt::format("all-reduce ({} B/elem, n={}): element {} is {} not {}", sizeof(T), n, i,
                                double(buf[size_t(i)]), double(ref_tree<T>(0, c.size(), i))));
      return;
    }
}

// Uneven shards (rank r owns 2r+1 elements... and rank 1 none when there are more than 2).
inline std::vector<int64_t> uneven_offsets(int P) {
  std::vector<int64_t> off{0};
  for (int r = 0; r < P; ++r) off.push_back(off.back() + ((P > 2 && r == 1) ? 0 : 2 * r + 1));
  return off;
}

template <class T>
void check_reduce_scatter(Communicator& c, std::vector<std::string>& bad) {
  const std::vector<int64_t> off = uneven_offsets(c.size());
  const int64_t n = off.back();
  std::vector<T> buf(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) buf[size_t(i)] = part_value<T>(c.rank(), i);
  c.reduce_scatter_sum(buf.data(), off);
  for (int64_t i = off[size_t(c.rank())]; i < off[size_t(c.rank()) + 1]; ++i)
    if (!same_bits(buf[size_t(i)], ref_tree<T>(0, c.size(), i))) {
      bad.push_back(fmt::format("reduce-scatter ({} B/elem): element {} wrong", sizeof(T), i));
      return;
    }
}

template <class T>
void check_all_gather(Communicator& c, std::vector<std::string>& bad) {
  const std::vector<int64_t> off = uneven_offsets(c.size());
  std::vector<T> buf(size_t(off.back()), T(-1));
  for (int64_t i = off[size_t(c.rank())]; i < off[size_t(c.rank()) + 1]; ++i) buf[size_t(i)] = T(1000 * c.rank() + i);
  c.all_gather(buf.data(), off);
  for (int r = 0; r < c.size(); ++r)
    for (int64_t i = off[size_t(r)]; i < off[size_t(r) + 1]; ++i)
      if (buf[size_t(i)] != T(1000 * r + i)) {
        bad.push_back(fmt::format("all-gather ({} B/elem): element {} (rank {}) is {}", sizeof(T), i, r, double(buf[size_t(i)])));
        return;
      }
}

inline void check_all_gather_v(Communicator& c, std::vector<std::string>& bad) {
  std::vector<double> mine(size_t(c.rank() % 3), double(c.rank()) + 0.5);
  const std::vector<double> all = c.all_gather_v(mine);
  std::vector<double> want;
  for (int r = 0; r < c.size(); ++r) want.insert(want.end(), size_t(r % 3), double(r) + 0.5);
  if (all != want) bad.push_back(fmt::format("all-gather-v: {} values, expected {}", all.size(), want.size()));
}

// Rank r sends (r + q + 1) int32 values {r*100 + q*10 + j} to rank q.
inline void check_all_to_all(Communicator& c, std::vector<std::string>& bad) {
  const int P = c.size(), r = c.rank();
  std::vector<int64_t> sc, so, rc, ro;
  std::vector<int32_t> send, recv;
  for (int q = 0; q < P; ++q) {
    so.push_back(int64_t(send.size()));
    sc.push_back(r + q + 1);
    for (int j = 0; j < r + q + 1; ++j) send.push_back(r * 100 + q * 10 + j);
  }
  int64_t total = 0;
  for (int q = 0; q < P; ++q) {
    ro.push_back(total);
    rc.push_back(q + r + 1);
    total += q + r + 1;
  }
  recv.assign(size_t(total), -1);
  c.iall_to_all_v<int32_t>(send.data(), sc, so, recv.data(), rc, ro).wait();
  for (int q = 0; q < P; ++q)
    for (int j = 0; j < q + r + 1; ++j)
      if (recv[size_t(ro[size_t(q)] + j)] != q * 100 + r * 10 + j) {
        bad.push_back(fmt::format("all-to-all-v: rank {} got {} from rank {} at {}", r, recv[size_t(ro[size_t(q)] + j)], q, j));
        return;
      }
}

// A ring: every rank sends to the next and receives from the previous, non-blocking both ways.
inline void check_send_recv(Communicator& c, std::vector<std::string>& bad) {
  const int P = c.size(), r = c.rank();
  std::vector<double> out(5), in(5, -1);
  for (int j = 0; j < 5; ++j) out[size_t(j)] = r * 10.0 + j;
  Request rr = c.irecv(in.data(), 5 * 8, (r + P - 1) % P, 7);
  Request sr = c.isend(out.data(), 5 * 8, (r + 1) % P, 7);
  sr.wait();
  rr.wait();
  const int from = (r + P - 1) % P;
  for (int j = 0; j < 5; ++j)
    if (in[size_t(j)] != from * 10.0 + j) {
      bad.push_back(fmt::format("send/recv: rank {} got {} from rank {}", r, in[size_t(j)], from));
      return;
    }
  // Typed blocking forms: rank 0 sends a value to the last rank.
  if (P > 1) {
    int64_t v = 0;
    if (r == 0) c.send<int64_t>(&(v = 42), 1, P - 1, 3);
    if (r == P - 1) {
      c.recv<int64_t>(&v, 1, 0, 3);
      if (v != 42) bad.push_back("send/recv typed: got " + std::to_string(v));
    }
  }
}

// Several non-blocking collectives in flight at once, progressed by test() in a different order
// on each rank, with another collective issued after some ranks have already advanced the first
// ones (an all-reduce's all-gather stage starts from test(): its pairing must not depend on when).
inline void check_non_blocking(Communicator& c, std::vector<std::string>& bad) {
  const int64_t n = 1000;
  std::vector<float> a(static_cast<size_t>(n)), a2(static_cast<size_t>(n));
  std::vector<double> b(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    a[size_t(i)] = part_value<float>(c.rank(), i);
    a2[size_t(i)] = part_value<float>(c.rank(), i + 7);
    b[size_t(i)] = part_value<double>(c.rank(), i);
  }
  std::vector<Request> reqs;
  reqs.push_back(c.iall_reduce_sum(a.data(), n));
  reqs.push_back(c.iall_reduce_sum(b.data(), n));
  const bool reverse = c.rank() % 2 == 1;
  for (int spins = 0; spins < 50 * (c.rank() + 1); ++spins)
    for (size_t j = 0; j < reqs.size(); ++j) reqs[reverse ? reqs.size() - 1 - j : j].test();
  reqs.push_back(c.iall_reduce_sum(a2.data(), n));
  std::vector<int64_t> g(static_cast<size_t>(c.size()), -1);
  g[size_t(c.rank())] = c.rank() * 3;
  reqs.push_back(c.iall_gather_v(&g[size_t(c.rank())], 8, g.data(), std::vector<int64_t>(size_t(c.size()), 8),
                                 [&] {
                                   std::vector<int64_t> o;
                                   for (int r = 0; r < c.size(); ++r) o.push_back(8 * r);
                                   return o;
                                 }()));
  if (reverse)
    for (size_t j = reqs.size(); j-- > 0;) reqs[j].wait();
  else
    wait_all(reqs);
  for (int64_t i = 0; i < n; ++i)
    if (!same_bits(a[size_t(i)], ref_tree<float>(0, c.size(), i)) ||
        !same_bits(b[size_t(i)], ref_tree<double>(0, c.size(), i))) {
      bad.push_back(fmt::format("non-blocking all-reduce: element {} wrong", i));
      return;
    }
  for (int64_t i = 0; i < n; ++i) {
    // The reference recursion of ref_tree over the shifted values.
    const float want = [&] {
      std::function<float(int, int)> t = [&](int lo, int hi) -> float {
        if (hi - lo == 1) return part_value<float>(lo, i + 7);
        int hh = 1;
        while (hh * 2 < hi - lo) hh *= 2;
        return t(lo, lo + hh) + t(lo + hh, hi);
      };
      return t(0, c.size());
    }();
    if (!same_bits(a2[size_t(i)], want)) {
      bad.push_back(fmt::format("non-blocking all-reduce issued later: element {} wrong", i));
      return;
    }
  }
  for (int r = 0; r < c.size(); ++r)
    if (g[size_t(r)] != r * 3) {
      bad.push_back(fmt::format("non-blocking all-gather-v: rank {} slot is {}", r, g[size_t(r)]));
      return;
    }
}

inline std::vector<std::string> check_every_collective(Communicator& c) {
  std::vector<std::string> bad;
  c.barrier();
  check_all_reduce<float>(c, 1, bad);
  check_all_reduce<float>(c, 1037, bad);
  check_all_reduce<double>(c, 1037, bad);
  check_reduce_scatter<float>(c, bad);
  check_reduce_scatter<double>(c, bad);
  check_all_gather<float>(c, bad);
  check_all_gather<double>(c, bad);
  check_all_gather_v(c, bad);
  check_all_to_all(c, bad);
  check_send_recv(c, bad);
  check_non_blocking(c, bad);
  c.barrier();
  return bad;
}

}  // namespace frugal::dist::testing
