// Firecracker's --config-file format: one JSON object with the sections
// "boot-source", "machine-config", "drives", "network-interfaces", "vsock",
// "entropy", "logger" and "metrics", each shaped like the body of the
// endpoint of the same name (GET /vm/config prints the same shape). Parsed
// by the endpoint parsers, so both accept exactly the same input. Errors
// name the section and field on one line ("drives[1]: path_on_host: ...").
//
//   SKIFF_ASSIGN_OR_RETURN(FcConfig fc, LoadConfigFile("/etc/skiff/vm.json"));
//   SKIFF_RETURN_IF_ERROR(api.Configure(fc));
//   SKIFF_RETURN_IF_ERROR(api.StartInstance());
#ifndef SKIFF_API_CONFIG_FILE_H_
#define SKIFF_API_CONFIG_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "api/fc_config.h"

namespace skiff::api {

// Config files larger than this are refused unread.
inline constexpr size_t kMaxConfigFileBytes = 1 << 20;

absl::StatusOr<FcConfig> ParseConfigFile(absl::string_view text);
// Reads `path` (at most kMaxConfigFileBytes) and parses it; errors are
// prefixed with the path.
absl::StatusOr<FcConfig> LoadConfigFile(const std::string& path);

}  // namespace skiff::api

#endif  // SKIFF_API_CONFIG_FILE_H_
