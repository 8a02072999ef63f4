// The libFuzzer initialization every virtio fuzzer shares, linked into each
// of them by devices/virtio/meson.build: guest errors are logged per device
// instance, so silence them and let the fuzzer measure parsing, not stderr.
#include "base/log.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  skiff::SetLogLevel(skiff::LogLevel::kOff);
  return 0;
}
