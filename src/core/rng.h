// Deterministic RNG: xoshiro256** seeded through splitmix64. Same seed, same stream, on every
// platform and thread count (std::mt19937's distributions are not portable across libstdc++ versions).
#pragma once
#include <cstdint>

namespace frugal {

// splitmix64's step: adds the golden-ratio increment, then a bijective 64-bit finaliser with full
// avalanche. Seeds Rng, and hashes (seed, index) pairs into independent streams and cache keys.
inline uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { seed_with(seed); }
  void seed_with(uint64_t seed);
  uint64_t next_u64();
  // Uniform in [0, 1) with 24 random bits (exactly representable in float).
  float uniform();
  // Uniform in [0, 1) with 53 random bits.
  double uniform_double();
  // Standard normal (Box-Muller, deterministic).
  float normal();
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n);

  uint64_t state[4];
};

}  // namespace frugal
