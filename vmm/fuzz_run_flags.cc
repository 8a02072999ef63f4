// Feeds arbitrary argument vectors (NUL-separated) to the `skiff run` flag
// parser: it must accept or refuse with a one-line message, never crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "vmm/run_flags.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args;
  std::string current;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      args.push_back(std::move(current));
      current.clear();
    } else {
      current.push_back(static_cast<char>(data[i]));
    }
  }
  args.push_back(std::move(current));
  absl::StatusOr<skiff::RunFlags> flags = skiff::ParseRunFlags(args);
  if (!flags.ok() &&
      std::string(flags.status().message()).find('\n') != std::string::npos) {
    __builtin_trap();
  }
  return 0;
}
