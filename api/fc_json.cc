#include "api/fc_json.h"

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace skiff::api {
namespace {

constexpr size_t kMaxPathBytes = 4096;      // PATH_MAX
constexpr size_t kMaxBootArgsBytes = 4096;  // well above x86's 2048

absl::Status FieldError(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

// Typed access to the fields of one JSON object. Absent and null are the
// same (serde's Option in Firecracker accepts both).
class Fields {
 public:
  explicit Fields(const Json& j) : j_(j) {}

  absl::Status Check(std::initializer_list<const char*> known) const {
    if (!j_.is_object()) {
      return absl::InvalidArgumentError("expected a JSON object");
    }
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      const std::string& key = it.key();
      if (std::none_of(known.begin(), known.end(),
                       [&](const char* k) { return key == k; })) {
        return FieldError(OneLine(key), "unknown field");
      }
    }
    return absl::OkStatus();
  }

  const Json* Get(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  bool Has(const char* key) const { return Get(key) != nullptr; }

  absl::Status Missing(const char* key) const {
    return FieldError(key, "missing (required)");
  }

  // `max_bytes` bounds the length; NUL bytes are refused since every
  // string here ends up as a path or a C string.
  absl::Status String(const char* key, bool required, size_t max_bytes,
                      std::string* out) const {
    const Json* v = Get(key);
    if (v == nullptr) return required ? Missing(key) : absl::OkStatus();
    if (!v->is_string()) return FieldError(key, "expected a string");
    const std::string& s = v->get_ref<const std::string&>();
    if (s.size() > max_bytes) {
      return FieldError(key, absl::StrCat("longer than ", max_bytes, " bytes"));
    }
    if (s.find('\0') != std::string::npos) {
      return FieldError(key, "contains a NUL character");
    }
    *out = s;
    return absl::OkStatus();
  }

  absl::Status Bool(const char* key, bool required, bool* out) const {
    const Json* v = Get(key);
    if (v == nullptr) return required ? Missing(key) : absl::OkStatus();
    if (!v->is_boolean()) return FieldError(key, "expected true or false");
    *out = v->get<bool>();
    return absl::OkStatus();
  }

  absl::Status Uint(const char* key, bool required, uint64_t min, uint64_t max,
                    uint64_t* out) const {
    const Json* v = Get(key);
    if (v == nullptr) return required ? Missing(key) : absl::OkStatus();
    if (!v->is_number_integer()) return FieldError(key, "expected an integer");
    if (!v->is_number_unsigned()) {
      return FieldError(key, absl::StrCat("must be in ", min, "..", max));
    }
    uint64_t value = v->get<uint64_t>();
    if (value < min || value > max) {
      return FieldError(key,
                        absl::StrCat(value, " is outside ", min, "..", max));
    }
    *out = value;
    return absl::OkStatus();
  }

  // A string that must be one of `allowed`, compared case-insensitively
  // when `fold`; `out` gets the canonical spelling.
  absl::Status Enum(const char* key, std::initializer_list<const char*> allowed,
                    bool fold, std::string* out) const {
    std::string s;
    SKIFF_RETURN_IF_ERROR(String(key, false, 64, &s));
    if (!Has(key)) return absl::OkStatus();
    for (const char* a : allowed) {
      if (fold ? absl::EqualsIgnoreCase(s, a) : s == a) {
        *out = a;
        return absl::OkStatus();
      }
    }
    std::string list;
    for (const char* a : allowed)
      absl::StrAppend(&list, list.empty() ? "" : ", ", a);
    return FieldError(
        key, absl::StrCat("\"", OneLine(s), "\" is not one of ", list));
  }

  // Rate limiters are not implemented. An object without buckets means "no
  // limit" and is accepted so clients that always send one still work.
  absl::Status NoRateLimiter(const char* key) const {
    const Json* v = Get(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_object()) return FieldError(key, "expected a JSON object");
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (!it->is_null()) {
        return FieldError(key, "rate limiting is not supported by skiff");
      }
    }
    return absl::OkStatus();
  }

 private:
  const Json& j_;
};

absl::Status CheckId(const char* key, const std::string& id) {
  if (!IsValidFcId(id)) {
    return FieldError(key, "must be 1..64 characters of A-Z, a-z, 0-9 and _");
  }
  return absl::OkStatus();
}

Json OrNull(const std::string& s) {
  return s.empty() ? Json(nullptr) : Json(s);
}

}  // namespace

absl::StatusOr<Json> ParseJsonText(absl::string_view text) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        return absl::InvalidArgumentError(absl::StrCat(
            "invalid JSON: nested deeper than ", kMaxJsonDepth, " levels"));
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  Json j = Json::parse(text.begin(), text.end(), nullptr,
                       /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("invalid JSON");
  return j;
}

std::string DumpJson(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

absl::StatusOr<FcBootSource> ParseBootSource(const Json& j) {
  Fields f(j);
  SKIFF_RETURN_IF_ERROR(
      f.Check({"kernel_image_path", "initrd_path", "boot_args"}));
  FcBootSource b;
  SKIFF_RETURN_IF_ERROR(
      f.String("kernel_image_path", true, kMaxPathBytes, &b.kernel_image_path));
  if (b.kernel_image_path.empty()) {
    return FieldError("kernel_image_path", "empty");
  }
  SKIFF_RETURN_IF_ERROR(
      f.String("initrd_path", false, kMaxPathBytes, &b.initrd_path));
  if (f.Has("boot_args")) {
    std::string args;
    SKIFF_RETURN_IF_ERROR(
        f.String("boot_args", false, kMaxBootArgsBytes, &args));
    b.boot_args = std::move(args);
  }
  return b;
}

absl::StatusOr<FcMachineConfig> ParseMachineConfig(
    const Json& j, bool patch, const FcMachineConfig& base) {
  Fields f(j);
  SKIFF_RETURN_IF_ERROR(
      f.Check({"vcpu_count", "mem_size_mib", "smt", "track_dirty_pages",
               "cpu_template", "huge_pages"}));
  FcMachineConfig m = base;
  uint64_t vcpus = static_cast<uint64_t>(m.vcpu_count);
  SKIFF_RETURN_IF_ERROR(
      f.Uint("vcpu_count", !patch, 1, VmConfig::kMaxVcpus, &vcpus));
  m.vcpu_count = static_cast<int>(vcpus);
  SKIFF_RETURN_IF_ERROR(f.Uint("mem_size_mib", !patch,
                               VmConfig::kMinMemory >> 20,
                               VmConfig::kMaxMemory >> 20, &m.mem_size_mib));
  bool smt = false;
  SKIFF_RETURN_IF_ERROR(f.Bool("smt", false, &smt));
  if (smt)
    return FieldError("smt", "simultaneous multithreading is not supported");
  bool dirty = false;
  SKIFF_RETURN_IF_ERROR(f.Bool("track_dirty_pages", false, &dirty));
  if (dirty) {
    return FieldError("track_dirty_pages",
                      "dirty page tracking is not supported (no snapshots)");
  }
  std::string cpu_template = "None";
  SKIFF_RETURN_IF_ERROR(
      f.Enum("cpu_template", {"C3", "T2", "T2S", "T2CL", "T2A", "V1N1", "None"},
             false, &cpu_template));
  if (cpu_template != "None") {
    return FieldError("cpu_template", "CPU templates are not supported");
  }
  std::string huge_pages = "None";
  SKIFF_RETURN_IF_ERROR(
      f.Enum("huge_pages", {"None", "Transparent", "2M"}, false, &huge_pages));
  if (huge_pages != "None") {
    return FieldError("huge_pages", "only \"None\" is supported");
  }
  return m;
}

absl::StatusOr<FcDrive> ParseDrive(const Json& j) {
  Fields f(j);
  SKIFF_RETURN_IF_ERROR(f.Check({"drive_id", "path_on_host", "is_root_device",
                                 "is_read_only", "partuuid", "cache_type",
                                 "io_engine", "rate_limiter", "socket"}));
  FcDrive d;
  SKIFF_RETURN_IF_ERROR(f.String("drive_id", true, 64, &d.drive_id));
  SKIFF_RETURN_IF_ERROR(CheckId("drive_id", d.drive_id));
  if (f.Has("socket")) {
    return FieldError("socket", "vhost-user block devices are not supported");
  }
  SKIFF_RETURN_IF_ERROR(
      f.String("path_on_host", true, kMaxPathBytes, &d.path_on_host));
  if (d.path_on_host.empty()) return FieldError("path_on_host", "empty");
  SKIFF_RETURN_IF_ERROR(f.Bool("is_root_device", true, &d.is_root_device));
  SKIFF_RETURN_IF_ERROR(f.Bool("is_read_only", false, &d.is_read_only));
  SKIFF_RETURN_IF_ERROR(f.String("partuuid", false, 64, &d.partuuid));
  for (char c : d.partuuid) {
    // It goes onto the kernel command line: no spaces or other arguments.
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) && c != '-') {
      return FieldError("partuuid", "expected hex digits and '-'");
    }
  }
  SKIFF_RETURN_IF_ERROR(
      f.Enum("cache_type", {"Unsafe", "Writeback"}, false, &d.cache_type));
  SKIFF_RETURN_IF_ERROR(
      f.Enum("io_engine", {"Sync", "Async"}, false, &d.io_engine));
  SKIFF_RETURN_IF_ERROR(f.NoRateLimiter("rate_limiter"));
  return d;
}

absl::StatusOr<FcPartialDrive> ParsePartialDrive(const Json& j) {
  Fields f(j);
  SKIFF_RETURN_IF_ERROR(f.Check({"drive_id", "path_on_host", "rate_limiter"}));
  FcPartialDrive d;
  SKIFF_RETURN_IF_ERROR(f.String("drive_id", true, 64, &d.drive_id));
  SKIFF_RETURN_IF_ERROR(CheckId("drive_id", d.drive_id));
  if (f.Has("path_on_host")) {
    std::string path;
    SKIFF_RETURN_IF_ERROR(
        f.String("path_on_host", false, kMaxPathBytes, &path));
    if (path.empty()) return FieldError("path_on_host", "empty");
    d.path_on_host = std::move(path);
  }
  SKIFF_RETURN_IF_ERROR(f.NoRateLimiter("rate_limiter"));
  return d;
}

absl::StatusOr<FcNetworkInterface> ParseNetworkInterface(const Json& j) {
  Fields f(j);
  SKIFF_RETURN_IF_ERROR(f.Check({"iface_id", "host_dev_name", "guest_mac",
                                 "mtu", "rx_rate_limiter", "tx_rate_limiter"}));
  FcNetworkInterface n;
  SKIFF_RETURN_IF_ERROR(f.String("iface_id", true, 64, &n.iface_id));
  SKIFF_RETURN_IF_ERROR(CheckId("iface_id", n.iface_id));
  // IFNAMSIZ is 16 including the NUL.
  SKIFF_RETURN_IF_ERROR(f.String("host_dev_name", true, 15, &n.host_dev_name));
  if (n.host_dev_name.empty()) return FieldError("host_dev_name", "empty");
  SKIFF_RETURN_IF_ERROR(f.String("guest_mac", false, 17, &n.guest_mac));
  std::array<uint8_t, 6> mac;
  if (!n.guest_mac.empty() && !ParseMac(n.guest_mac, &mac)) {
    return FieldError("guest_mac", "expected aa:bb:cc:dd:ee:ff");
  }
  if (f.Has("mtu"))
    return FieldError("mtu", "setting the MTU is not supported");
  SKIFF_RETURN_IF_ERROR(f.NoRateLimiter("rx_rate_limiter"));
  SKIFF_RETURN_IF_ERROR(f.NoRateLimiter("tx_rate_limiter"));
  return n;
}

absl::StatusOr<std::string> ParsePartialNetworkInterface(const Json& j) {
  Fields f(j);
  SKIFF_RETURN_IF_ERROR(
      f.Check({"iface_id", "rx_rate_limiter", "tx_rate_limiter"}));
  std::string id;
  SKIFF_RETURN_IF_ERROR(f.String("iface_id", true, 64, &id));
  SKIFF_RETURN_IF_ERROR(CheckId("iface_id", id));
  SKIFF_RETURN_IF_ERROR(f.NoRateLimiter("rx_rate_limiter"));
  SKIFF_RETURN_IF_ERROR(f.NoRateLimiter("tx_rate_limiter"));
  return id;
}

absl::StatusOr<FcVsock> ParseVsock(const Json& j) {
  Fields f(j);
  SKIFF_RETURN_IF_ERROR(f.Check({"guest_cid", "uds_path", "vsock_id"}));
  FcVsock v;
  uint64_t cid = 0;
  // 0-2 are the hypervisor, local and host; 0xffffffff is VMADDR_CID_ANY
  // (linux/vm_sockets.h).
  SKIFF_RETURN_IF_ERROR(f.Uint("guest_cid", true, 3, 0xfffffffe, &cid));
  v.guest_cid = static_cast<uint32_t>(cid);
  SKIFF_RETURN_IF_ERROR(f.String("uds_path", true, 107, &v.uds_path));
  if (v.uds_path.empty()) return FieldError("uds_path", "empty");
  std::string
      ignored;  // vsock_id: deprecated in Firecracker, ignored there too
  SKIFF_RETURN_IF_ERROR(f.String("vsock_id", false, 64, &ignored));
  return v;
}

absl::Status ParseEntropy(const Json& j) {
  Fields f(j);
  SKIFF_RETURN_IF_ERROR(f.Check({"rate_limiter"}));
  return f.NoRateLimiter("rate_limiter");
}

absl::StatusOr<FcLogger> ParseLogger(const Json& j) {
  Fields f(j);
  SKIFF_RETURN_IF_ERROR(f.Check(
      {"log_path", "level", "show_level", "show_log_origin", "module"}));
  FcLogger l;
  SKIFF_RETURN_IF_ERROR(
      f.String("log_path", false, kMaxPathBytes, &l.log_path));
  SKIFF_RETURN_IF_ERROR(
      f.Enum("level", {"Error", "Warning", "Info", "Debug", "Trace", "Off"},
             true, &l.level));
  SKIFF_RETURN_IF_ERROR(f.Bool("show_level", false, &l.show_level));
  SKIFF_RETURN_IF_ERROR(f.Bool("show_log_origin", false, &l.show_log_origin));
  SKIFF_RETURN_IF_ERROR(f.String("module", false, 256, &l.module));
  return l;
}

absl::StatusOr<FcMetrics> ParseMetrics(const Json& j) {
  Fields f(j);
  SKIFF_RETURN_IF_ERROR(f.Check({"metrics_path"}));
  FcMetrics m;
  SKIFF_RETURN_IF_ERROR(
      f.String("metrics_path", true, kMaxPathBytes, &m.metrics_path));
  if (m.metrics_path.empty()) return FieldError("metrics_path", "empty");
  return m;
}

absl::Status AddDrive(FcConfig& config, FcDrive drive, bool replace) {
  FcDrive* existing = nullptr;
  for (FcDrive& d : config.drives) {
    if (d.drive_id == drive.drive_id) {
      existing = &d;
    } else if (d.is_root_device && drive.is_root_device) {
      return absl::InvalidArgumentError(absl::StrCat(
          "is_root_device: drive ", d.drive_id, " is already the root device"));
    }
  }
  if (existing != nullptr) {
    if (!replace) {
      return absl::InvalidArgumentError(
          absl::StrCat("drive_id: ", drive.drive_id, " is given twice"));
    }
    *existing = std::move(drive);
  } else {
    config.drives.push_back(std::move(drive));
  }
  return absl::OkStatus();
}

absl::Status AddNetworkInterface(FcConfig& config, FcNetworkInterface iface,
                                 bool replace) {
  std::array<uint8_t, 6> mac{};
  const bool has_mac =
      !iface.guest_mac.empty() && ParseMac(iface.guest_mac, &mac);
  FcNetworkInterface* existing = nullptr;
  for (FcNetworkInterface& n : config.network_interfaces) {
    if (n.iface_id == iface.iface_id) {
      existing = &n;
      continue;
    }
    if (n.host_dev_name == iface.host_dev_name) {
      return absl::InvalidArgumentError(
          absl::StrCat("host_dev_name: ", iface.host_dev_name,
                       " is already used by ", n.iface_id));
    }
    std::array<uint8_t, 6> other{};
    if (has_mac && !n.guest_mac.empty() && ParseMac(n.guest_mac, &other) &&
        other == mac) {
      return absl::InvalidArgumentError(absl::StrCat(
          "guest_mac: ", iface.guest_mac, " is already used by ", n.iface_id));
    }
  }
  if (existing != nullptr) {
    if (!replace) {
      return absl::InvalidArgumentError(
          absl::StrCat("iface_id: ", iface.iface_id, " is given twice"));
    }
    *existing = std::move(iface);
  } else {
    config.network_interfaces.push_back(std::move(iface));
  }
  return absl::OkStatus();
}

Json BootSourceToJson(const FcBootSource& b) {
  Json j = Json::object();
  j["kernel_image_path"] = b.kernel_image_path;
  j["initrd_path"] = OrNull(b.initrd_path);
  j["boot_args"] = b.boot_args.has_value() ? Json(*b.boot_args) : Json(nullptr);
  return j;
}

Json MachineConfigToJson(const FcMachineConfig& m) {
  Json j = Json::object();
  j["vcpu_count"] = m.vcpu_count;
  j["mem_size_mib"] = m.mem_size_mib;
  j["smt"] = false;
  j["track_dirty_pages"] = false;
  j["huge_pages"] = "None";
  return j;
}

Json FcConfigToJson(const FcConfig& c) {
  Json j = Json::object();
  j["boot-source"] = c.boot_source.has_value()
                         ? BootSourceToJson(*c.boot_source)
                         : Json(nullptr);
  j["machine-config"] = MachineConfigToJson(c.machine_config);
  Json drives = Json::array();
  for (const FcDrive& d : c.drives) {
    Json dj = Json::object();
    dj["drive_id"] = d.drive_id;
    dj["path_on_host"] = d.path_on_host;
    dj["is_root_device"] = d.is_root_device;
    dj["is_read_only"] = d.is_read_only;
    dj["partuuid"] = OrNull(d.partuuid);
    dj["cache_type"] = d.cache_type;
    dj["io_engine"] = d.io_engine;
    dj["rate_limiter"] = nullptr;
    drives.push_back(std::move(dj));
  }
  j["drives"] = std::move(drives);
  Json nets = Json::array();
  for (const FcNetworkInterface& n : c.network_interfaces) {
    Json nj = Json::object();
    nj["iface_id"] = n.iface_id;
    nj["host_dev_name"] = n.host_dev_name;
    nj["guest_mac"] = OrNull(n.guest_mac);
    nj["rx_rate_limiter"] = nullptr;
    nj["tx_rate_limiter"] = nullptr;
    nets.push_back(std::move(nj));
  }
  j["network-interfaces"] = std::move(nets);
  if (c.vsock.has_value()) {
    j["vsock"] = {{"guest_cid", c.vsock->guest_cid},
                  {"uds_path", c.vsock->uds_path}};
  } else {
    j["vsock"] = nullptr;
  }
  j["entropy"] = c.entropy ? Json{{"rate_limiter", nullptr}} : Json(nullptr);
  if (c.logger.has_value()) {
    j["logger"] = {{"log_path", OrNull(c.logger->log_path)},
                   {"level", c.logger->level},
                   {"show_level", c.logger->show_level},
                   {"show_log_origin", c.logger->show_log_origin},
                   {"module", OrNull(c.logger->module)}};
  } else {
    j["logger"] = nullptr;
  }
  j["metrics"] = c.metrics.has_value()
                     ? Json{{"metrics_path", c.metrics->metrics_path}}
                     : Json(nullptr);
  j["balloon"] = nullptr;
  j["mmds-config"] = nullptr;
  return j;
}

}  // namespace skiff::api
