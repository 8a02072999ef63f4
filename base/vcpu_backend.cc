#include "base/vcpu_backend.h"

#include "absl/strings/str_format.h"

namespace skiff {

std::string_view VcpuExitKindName(VcpuExit::Kind kind) {
  switch (kind) {
    case VcpuExit::Kind::kHalt:
      return "halt";
    case VcpuExit::Kind::kInterrupted:
      return "interrupted";
    case VcpuExit::Kind::kShutdown:
      return "shutdown";
    case VcpuExit::Kind::kReset:
      return "reset";
    case VcpuExit::Kind::kPowerOff:
      return "power-off";
    case VcpuExit::Kind::kDebug:
      return "debug";
    case VcpuExit::Kind::kInternalError:
      return "internal error";
  }
  return "unknown";
}

std::string DescribeVcpuExit(const VcpuExit& exit) {
  std::string out(VcpuExitKindName(exit.kind));
  if (exit.kind != VcpuExit::Kind::kInternalError &&
      exit.kind != VcpuExit::Kind::kShutdown) {
    return out;
  }
  absl::StrAppendFormat(&out, " reason=%u suberror=%u", exit.reason,
                        exit.suberror);
  if (!exit.message.empty()) absl::StrAppendFormat(&out, " (%s)", exit.message);
  absl::StrAppendFormat(&out, " rip=0x%x", exit.rip);
  if (exit.insn_len > 0) {
    out += " insn=";
    for (int i = 0; i < exit.insn_len && i < 16; ++i) {
      absl::StrAppendFormat(&out, "%s%02x", i == 0 ? "" : " ", exit.insn[i]);
    }
  }
  return out;
}

}  // namespace skiff
