#include "api/config_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "api/fc_json.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"

namespace skiff::api {
namespace {

absl::Status Prefixed(absl::string_view where, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat(where, ": ", status.message()));
}

// Sections of Firecracker's format that skiff has no device for: null is
// fine (GET /vm/config prints them so), anything else is refused.
constexpr const char* kUnsupportedSections[] = {
    "balloon", "mmds-config", "cpu-config", "pmem", "memory-hotplug", "serial"};

}  // namespace

absl::StatusOr<FcConfig> ParseConfigFile(absl::string_view text) {
  SKIFF_ASSIGN_OR_RETURN(Json j, ParseJsonText(text));
  if (!j.is_object()) {
    return absl::InvalidArgumentError("config file: expected a JSON object");
  }
  FcConfig config;
  bool have_boot_source = false;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const Json& v = *it;
    if (key == "boot-source") {
      have_boot_source = !v.is_null();
      if (!have_boot_source) continue;
      absl::StatusOr<FcBootSource> b = ParseBootSource(v);
      if (!b.ok()) return Prefixed(key, b.status());
      config.boot_source = std::move(*b);
    } else if (key == "machine-config") {
      if (v.is_null()) continue;
      absl::StatusOr<FcMachineConfig> m = ParseMachineConfig(v, false);
      if (!m.ok()) return Prefixed(key, m.status());
      config.machine_config = *m;
    } else if (key == "drives" || key == "network-interfaces") {
      if (v.is_null()) continue;
      if (!v.is_array())
        return Prefixed(key, absl::InvalidArgumentError("expected an array"));
      for (size_t i = 0; i < v.size(); ++i) {
        const std::string where = absl::StrCat(key, "[", i, "]");
        absl::Status s;
        if (key == "drives") {
          absl::StatusOr<FcDrive> d = ParseDrive(v[i]);
          s = d.ok() ? AddDrive(config, std::move(*d), /*replace=*/false)
                     : d.status();
        } else {
          absl::StatusOr<FcNetworkInterface> n = ParseNetworkInterface(v[i]);
          s = n.ok() ? AddNetworkInterface(config, std::move(*n),
                                           /*replace=*/false)
                     : n.status();
        }
        if (!s.ok()) return Prefixed(where, s);
      }
    } else if (key == "vsock") {
      if (v.is_null()) continue;
      absl::StatusOr<FcVsock> vs = ParseVsock(v);
      if (!vs.ok()) return Prefixed(key, vs.status());
      config.vsock = std::move(*vs);
    } else if (key == "entropy") {
      if (v.is_null()) continue;
      if (absl::Status s = ParseEntropy(v); !s.ok()) return Prefixed(key, s);
      config.entropy = true;
    } else if (key == "logger") {
      if (v.is_null()) continue;
      absl::StatusOr<FcLogger> l = ParseLogger(v);
      if (!l.ok()) return Prefixed(key, l.status());
      config.logger = std::move(*l);
    } else if (key == "metrics") {
      if (v.is_null()) continue;
      absl::StatusOr<FcMetrics> m = ParseMetrics(v);
      if (!m.ok()) return Prefixed(key, m.status());
      config.metrics = std::move(*m);
    } else {
      bool known = false;
      for (const char* s : kUnsupportedSections) known = known || key == s;
      if (!known) {
        return absl::InvalidArgumentError(
            absl::StrCat(OneLine(key), ": unknown section"));
      }
      if (!v.is_null()) {
        return absl::InvalidArgumentError(
            absl::StrCat(key, ": not supported by skiff"));
      }
    }
  }
  if (!have_boot_source) {
    return absl::InvalidArgumentError("boot-source: missing (required)");
  }
  return config;
}

absl::StatusOr<FcConfig> LoadConfigFile(const std::string& path) {
  const std::string where = absl::StrCat("config file ", OneLine(path));
  absl::StatusOr<UniqueFd> fd = UniqueFd::Open(path, O_RDONLY);
  if (!fd.ok()) return Prefixed("config file", fd.status());
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd->get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(absl::StrCat(where, ": read"));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxConfigFileBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": larger than ", kMaxConfigFileBytes, " bytes"));
    }
  }
  absl::StatusOr<FcConfig> config = ParseConfigFile(text);
  if (!config.ok()) return Prefixed(where, config.status());
  return config;
}

}  // namespace skiff::api
