// Parsers for the device flags of `skiff run`, one flag value each, in the
// key=value style of Cloud Hypervisor and kvmtool:
//
//   --disk path=IMG[,readonly=on][,id=NAME][,direct=on][,gather=off]
//   --net tap=NAME[,mac=02:00:00:00:00:01][,id=NAME]
//   --vsock cid=N,uds=PATH
//
//   SKIFF_ASSIGN_OR_RETURN(DiskConfig disk, ParseDiskFlag("path=a.img", 0));
//   disk.id  // "disk0": devices without an id get <kind><index>
//
// Errors name the offending key or value; the caller prefixes the flag.
#ifndef SKIFF_VMM_DEVICE_FLAGS_H_
#define SKIFF_VMM_DEVICE_FLAGS_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "vmm/vm_config.h"

namespace skiff {

// `index` is the disk's position among the --disk flags, for its default id.
absl::StatusOr<DiskConfig> ParseDiskFlag(absl::string_view value, int index);
absl::StatusOr<NetConfig> ParseNetFlag(absl::string_view value, int index);
absl::StatusOr<VsockConfig> ParseVsockFlag(absl::string_view value);

// "02:00:00:00:00:01" (hex pairs separated by ':').
absl::StatusOr<std::array<uint8_t, 6>> ParseMac(absl::string_view text);

}  // namespace skiff

#endif  // SKIFF_VMM_DEVICE_FLAGS_H_
