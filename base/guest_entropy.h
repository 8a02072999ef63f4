// GuestEntropy hands out random bytes the guest sees as hardware randomness:
// the interpreter's RDRAND/RDSEED and the RNG seed a loader passes in
// boot_params (SETUP_RNG_SEED). By default the bytes come from the host's
// getrandom(2), read a block at a time; a deterministic source (--icount)
// gives the same sequence on every run, so that two runs of one guest retire
// the same instructions.
//
//   GuestEntropy rng = GuestEntropy::Host();
//   uint64_t v;
//   if (rng.Next64(&v)) SetDestination(v); else ReportNoEntropy();
#ifndef SKIFF_BASE_GUEST_ENTROPY_H_
#define SKIFF_BASE_GUEST_ENTROPY_H_

#include <array>
#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"

namespace skiff {

class GuestEntropy {
 public:
  // The host's random pool.
  static GuestEntropy Host() { return GuestEntropy(false, 0); }
  // A fixed pseudo-random sequence determined by `seed` (SplitMix64). Not
  // for secrets: for runs that must repeat exactly.
  static GuestEntropy Deterministic(uint64_t seed) {
    return GuestEntropy(true, seed);
  }

  bool deterministic() const { return deterministic_; }

  // Fills `out` entirely, or returns false when the host pool cannot supply
  // bytes without blocking (only before the host's own pool is seeded).
  bool Fill(absl::Span<uint8_t> out);
  bool Next64(uint64_t* v);

 private:
  GuestEntropy(bool deterministic, uint64_t state)
      : deterministic_(deterministic), state_(state) {}
  // Makes buffer_[pos_, end) hold fresh bytes (empty when none could be
  // read).
  void Refill();

  bool deterministic_;
  uint64_t state_;
  // Unread host bytes are buffer_[pos_, buffer_.size()).
  std::array<uint8_t, 256> buffer_{};
  size_t pos_ = 256;
};

}  // namespace skiff

#endif  // SKIFF_BASE_GUEST_ENTROPY_H_
