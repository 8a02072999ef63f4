// JSON <-> FcConfig for the Firecracker-compatible API and config file: one
// parser per swagger object (BootSource, MachineConfiguration, Drive, ...),
// shared by the endpoints and --config-file so both accept exactly the same
// input. Every field's type is checked before it is read, unknown fields are
// refused (as Firecracker's serde deny_unknown_fields does), null reads as
// absent, and errors are one line starting with the field name.
//
//   SKIFF_ASSIGN_OR_RETURN(Json j, ParseJsonText(body));
//   SKIFF_ASSIGN_OR_RETURN(FcDrive drive, ParseDrive(j));
//   SKIFF_RETURN_IF_ERROR(AddDrive(config, drive, /*replace=*/true));
#ifndef SKIFF_API_FC_JSON_H_
#define SKIFF_API_FC_JSON_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "api/fc_config.h"
#include "nlohmann/json.hpp"

namespace skiff::api {

using Json = nlohmann::json;

// Arrays and objects nested deeper than this are refused before parsing,
// so hostile input cannot drive deep recursion anywhere.
inline constexpr int kMaxJsonDepth = 32;

// Parses `text` as JSON; never throws. The error says "invalid JSON".
absl::StatusOr<Json> ParseJsonText(absl::string_view text);
// Serializes without throwing (invalid UTF-8 is replaced).
std::string DumpJson(const Json& j);

absl::StatusOr<FcBootSource> ParseBootSource(const Json& j);
// PUT needs vcpu_count and mem_size_mib; PATCH (`patch`) changes only the
// fields given, starting from `base`.
absl::StatusOr<FcMachineConfig> ParseMachineConfig(
    const Json& j, bool patch, const FcMachineConfig& base = {});
absl::StatusOr<FcDrive> ParseDrive(const Json& j);

struct FcPartialDrive {
  std::string drive_id;
  std::optional<std::string> path_on_host;
};
absl::StatusOr<FcPartialDrive> ParsePartialDrive(const Json& j);

absl::StatusOr<FcNetworkInterface> ParseNetworkInterface(const Json& j);
// PartialNetworkInterface only carries rate limiters, which skiff does not
// implement: returns the iface_id when none is set.
absl::StatusOr<std::string> ParsePartialNetworkInterface(const Json& j);
absl::StatusOr<FcVsock> ParseVsock(const Json& j);
absl::Status ParseEntropy(const Json& j);
absl::StatusOr<FcLogger> ParseLogger(const Json& j);
absl::StatusOr<FcMetrics> ParseMetrics(const Json& j);

// Adds `drive` to `config`, or replaces the one with the same drive_id when
// `replace` (PUT semantics; a config file has no duplicates). Refuses a
// second root device.
absl::Status AddDrive(FcConfig& config, FcDrive drive, bool replace);
// The same for interfaces; host_dev_name and guest_mac must be unique.
absl::Status AddNetworkInterface(FcConfig& config, FcNetworkInterface iface,
                                 bool replace);

Json BootSourceToJson(const FcBootSource& b);
Json MachineConfigToJson(const FcMachineConfig& m);
// The whole configuration in the --config-file shape (GET /vm/config).
Json FcConfigToJson(const FcConfig& config);

}  // namespace skiff::api

#endif  // SKIFF_API_FC_JSON_H_
