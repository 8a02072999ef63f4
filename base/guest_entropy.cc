#include "base/guest_entropy.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace skiff {
namespace {

// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
// generators", 2014): one add and a mixing function per output.
uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

void GuestEntropy::Refill() {
  if (deterministic_) {
    for (size_t i = 0; i < buffer_.size(); i += 8) {
      const uint64_t v = SplitMix64(state_);
      std::memcpy(&buffer_[i], &v, 8);
    }
    pos_ = 0;
    return;
  }
  // getrandom(2) returns up to 256 bytes in full once the pool is
  // initialised; a short read only comes with a signal.
  size_t got = 0;
  while (got < buffer_.size()) {
    const ssize_t n =
        ::getrandom(&buffer_[got], buffer_.size() - got, GRND_NONBLOCK);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  // Keep what was read at the end of the buffer, where reads start.
  if (got < buffer_.size()) {
    std::memmove(&buffer_[buffer_.size() - got], &buffer_[0], got);
  }
  pos_ = buffer_.size() - got;
}

bool GuestEntropy::Fill(absl::Span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    if (pos_ == buffer_.size()) {
      Refill();
      if (pos_ == buffer_.size()) return false;
    }
    const size_t n = std::min(out.size() - done, buffer_.size() - pos_);
    std::memcpy(out.data() + done, &buffer_[pos_], n);
    pos_ += n;
    done += n;
  }
  return true;
}

bool GuestEntropy::Next64(uint64_t* v) {
  uint8_t bytes[8];
  if (!Fill(absl::MakeSpan(bytes))) return false;
  std::memcpy(v, bytes, 8);
  return true;
}

}  // namespace skiff
