#include "vmm/device_flags.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "vmm/option_parser.h"

namespace skiff {
namespace {

absl::Status UnknownKey(const std::string& key, const char* expected) {
  return absl::InvalidArgumentError(
      absl::StrFormat("unknown key '%s' (expected %s)", key, expected));
}

absl::Status NonEmpty(const std::string& value, const char* key) {
  if (value.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s= is empty", key));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DiskConfig> ParseDiskFlag(absl::string_view value, int index) {
  SKIFF_ASSIGN_OR_RETURN(KeyValueList kv, ParseKeyValueList(value));
  DiskConfig disk;
  disk.path = kv.positional;
  for (const auto& [key, v] : kv.items) {
    if (key == "path") {
      disk.path = v;
    } else if (key == "readonly" || key == "ro") {
      SKIFF_ASSIGN_OR_RETURN(disk.read_only, ParseBool(v));
    } else if (key == "direct") {
      SKIFF_ASSIGN_OR_RETURN(disk.direct, ParseBool(v));
    } else if (key == "gather") {
      SKIFF_ASSIGN_OR_RETURN(disk.gather, ParseBool(v));
    } else if (key == "id") {
      SKIFF_RETURN_IF_ERROR(NonEmpty(v, "id"));
      disk.id = v;
    } else {
      return UnknownKey(key, "path, readonly, direct, gather, id");
    }
  }
  SKIFF_RETURN_IF_ERROR(NonEmpty(disk.path, "path"));
  if (disk.id.empty()) disk.id = absl::StrFormat("disk%d", index);
  return disk;
}

absl::StatusOr<std::array<uint8_t, 6>> ParseMac(absl::string_view text) {
  std::array<uint8_t, 6> mac{};
  std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrFormat("mac '%s' is not six hex pairs like 02:00:00:00:00:01",
                        std::string(text)));
  };
  if (parts.size() != mac.size()) return bad();
  for (size_t i = 0; i < mac.size(); ++i) {
    uint32_t byte = 0;
    if (parts[i].size() != 2 || !absl::SimpleHexAtoi(parts[i], &byte)) {
      return bad();
    }
    mac[i] = static_cast<uint8_t>(byte);
  }
  if (mac[0] & 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "mac '%s' is a multicast address (low bit of the first byte set)",
        std::string(text)));
  }
  return mac;
}

absl::StatusOr<NetConfig> ParseNetFlag(absl::string_view value, int index) {
  SKIFF_ASSIGN_OR_RETURN(KeyValueList kv, ParseKeyValueList(value));
  NetConfig net;
  net.tap = kv.positional;
  for (const auto& [key, v] : kv.items) {
    if (key == "tap") {
      net.tap = v;
    } else if (key == "mac") {
      SKIFF_ASSIGN_OR_RETURN(net.mac, ParseMac(v));
      net.mac_set = true;
    } else if (key == "id") {
      SKIFF_RETURN_IF_ERROR(NonEmpty(v, "id"));
      net.id = v;
    } else {
      return UnknownKey(key, "tap, mac, id");
    }
  }
  SKIFF_RETURN_IF_ERROR(NonEmpty(net.tap, "tap"));
  if (net.id.empty()) net.id = absl::StrFormat("net%d", index);
  return net;
}

absl::StatusOr<VsockConfig> ParseVsockFlag(absl::string_view value) {
  SKIFF_ASSIGN_OR_RETURN(KeyValueList kv, ParseKeyValueList(value));
  VsockConfig vsock;
  vsock.enabled = true;
  if (!kv.positional.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("'%s' needs a key (cid=N,uds=PATH)", kv.positional));
  }
  for (const auto& [key, v] : kv.items) {
    if (key == "cid") {
      // CIDs 0-2 are the hypervisor, local and host; -1U is "any".
      SKIFF_ASSIGN_OR_RETURN(int64_t cid, ParseInt(v, 3, 0xfffffffe));
      vsock.guest_cid = static_cast<uint32_t>(cid);
    } else if (key == "uds" || key == "socket") {
      SKIFF_RETURN_IF_ERROR(NonEmpty(v, "uds"));
      vsock.uds_path = v;
    } else {
      return UnknownKey(key, "cid, uds");
    }
  }
  SKIFF_RETURN_IF_ERROR(NonEmpty(vsock.uds_path, "uds"));
  return vsock;
}

}  // namespace skiff
