// Parsers for the value syntax shared by every front end: sizes ("512M"),
// host CPU lists ("0-3"), booleans ("on"/"off") and comma-separated
// key=value device lists in the style of Cloud Hypervisor and kvmtool
// ("path=disk.img,readonly=on"). All of them reject what they do not fully
// understand, with a message naming the offending text.
//
//   SKIFF_ASSIGN_OR_RETURN(uint64_t bytes, ParseSize("1G"));
//   SKIFF_ASSIGN_OR_RETURN(KeyValueList kv,
//   ParseKeyValueList("2,affinity=0:1")); kv.positional  // "2"
#ifndef SKIFF_VMM_OPTION_PARSER_H_
#define SKIFF_VMM_OPTION_PARSER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace skiff {

// Bytes from a number with an optional K, M, G or T suffix (powers of 1024;
// "KiB"/"MB" style suffixes are accepted too). No suffix means bytes when
// `default_unit` is 1, or that unit.
absl::StatusOr<uint64_t> ParseSize(absl::string_view text,
                                   uint64_t default_unit = 1);

absl::StatusOr<bool> ParseBool(absl::string_view text);

absl::StatusOr<int64_t> ParseInt(absl::string_view text, int64_t min,
                                 int64_t max);

// "3", "0-3", "0-1+4" (`+` joins pieces, since commas separate keys).
absl::StatusOr<std::vector<int>> ParseCpuList(absl::string_view text);

struct KeyValueList {
  std::string positional;  // a leading item without '=', if any
  std::vector<std::pair<std::string, std::string>> items;
};

// Duplicate keys and empty keys are errors.
absl::StatusOr<KeyValueList> ParseKeyValueList(absl::string_view text);

// One flag of a command line: "--name=value", "--name value" or a switch.
struct CommandFlag {
  std::string name;        // "--name"
  std::string value;       // empty for a switch
  bool has_value = false;  // written as --name=value
};

// Reads the flag at args[i]. Unless it was written --name=value or
// `is_switch(name)`, the next argument is its value and `i` moves past it.
absl::StatusOr<CommandFlag> ReadCommandFlag(
    const std::vector<std::string>& args, size_t& i,
    absl::FunctionRef<bool(const std::string& name)> is_switch);

}  // namespace skiff

#endif  // SKIFF_VMM_OPTION_PARSER_H_
