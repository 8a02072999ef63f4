// Arbitrary JSON bodies to every endpoint, in sequence so that state-
// dependent rules (pre-boot only, pause/resume) are reached, and the same
// bytes to the config file parser. Each response must be a known status
// with a one-line fault message on errors; nothing may crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "api/config_file.h"
#include "api/fake_vm_controller.h"
#include "api/fc_json.h"
#include "api/firecracker_api.h"

namespace {

struct Endpoint {
  const char* method;
  const char* path;
};

constexpr Endpoint kEndpoints[] = {
    {"PUT", "/boot-source"},
    {"PUT", "/machine-config"},
    {"PATCH", "/machine-config"},
    {"GET", "/machine-config"},
    {"PUT", "/drives/rootfs"},
    {"PATCH", "/drives/rootfs"},
    {"PUT", "/drives/d1"},
    {"PUT", "/network-interfaces/eth0"},
    {"PATCH", "/network-interfaces/eth0"},
    {"PUT", "/vsock"},
    {"PUT", "/entropy"},
    {"PUT", "/logger"},
    {"PUT", "/metrics"},
    {"PUT", "/actions"},
    {"PATCH", "/vm"},
    {"GET", "/vm/config"},
    {"GET", "/"},
    {"GET", "/version"},
};

void Check(const skiff::api::HttpResponse& r) {
  switch (r.status) {
    case 200:
    case 204:
      return;
    case 400:
    case 404:
    case 405: {
      absl::StatusOr<skiff::api::Json> j = skiff::api::ParseJsonText(r.body);
      if (!j.ok() || !j->is_object() || !j->contains("fault_message")) {
        __builtin_trap();
      }
      if (r.body.find('\n') != std::string::npos) __builtin_trap();
      return;
    }
    default:
      __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<skiff::api::FcConfig> config =
      skiff::api::ParseConfigFile(text);
  if (config.ok()) {
    (void)config->ToVmConfig();
    // What parses must print and parse back the same.
    std::string printed =
        skiff::api::DumpJson(skiff::api::FcConfigToJson(*config));
    absl::StatusOr<skiff::api::FcConfig> again =
        skiff::api::ParseConfigFile(printed);
    if (!again.ok() ||
        skiff::api::DumpJson(skiff::api::FcConfigToJson(*again)) != printed) {
      __builtin_trap();
    }
  } else if (std::string(config.status().message()).find('\n') !=
             std::string::npos) {
    __builtin_trap();
  }

  // Requests separated by NUL bytes; each one's first byte picks the
  // endpoint, the rest is the body.
  skiff::api::FakeVmController fake;
  skiff::api::FirecrackerApi api(&fake);
  size_t start = 0;
  while (start < size) {
    size_t end = text.find('\0', start);
    if (end == std::string::npos) end = size;
    if (end > start) {
      const Endpoint& e =
          kEndpoints[static_cast<uint8_t>(text[start]) %
                     (sizeof(kEndpoints) / sizeof(kEndpoints[0]))];
      Check(api.Handle(skiff::api::HttpRequest{
          e.method, e.path, text.substr(start + 1, end - start - 1)}));
    }
    start = end + 1;
  }
  return 0;
}
