// Status helpers shared by every layer: propagation macros (Debian's abseil
// 20220623 ships none) and errno conversion that names the failed operation.
//
//   SKIFF_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path));
//   SKIFF_RETURN_IF_ERROR(memory.Write(addr, bytes));
//   if (ioctl(...) < 0) return ErrnoStatus("KVM_CREATE_VM");
#ifndef SKIFF_BASE_STATUS_MACROS_H_
#define SKIFF_BASE_STATUS_MACROS_H_

#include <cerrno>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace skiff {

// Builds a status from errno (or `err`) whose message is "<op>: <strerror>".
absl::Status ErrnoStatus(std::string_view op, int err = errno);

// `text` with control characters written as \xNN, so that a message that
// quotes untrusted input (a flag value, a file name) stays on one line.
std::string OneLine(std::string_view text);
// The same status with its message passed through OneLine.
absl::Status OneLineStatus(const absl::Status& status);

}  // namespace skiff

#define SKIFF_STATUS_CONCAT_INNER_(a, b) a##b
#define SKIFF_STATUS_CONCAT_(a, b) SKIFF_STATUS_CONCAT_INNER_(a, b)

#define SKIFF_RETURN_IF_ERROR(expr)                                   \
  do {                                                                \
    if (::absl::Status skiff_status_ = (expr); !skiff_status_.ok()) { \
      return skiff_status_;                                           \
    }                                                                 \
  } while (false)

#define SKIFF_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return std::move(tmp).status();     \
  lhs = std::move(*tmp)

#define SKIFF_ASSIGN_OR_RETURN(lhs, expr) \
  SKIFF_ASSIGN_OR_RETURN_IMPL_(           \
      SKIFF_STATUS_CONCAT_(skiff_statusor_, __LINE__), lhs, expr)

#endif  // SKIFF_BASE_STATUS_MACROS_H_
