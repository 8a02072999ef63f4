// The default microVM: the kernel and initramfs scripts/setup prepares (via
// scripts/prepare-guest) in skiff's cache, booted by `skiff run` when no
// --kernel is given.
//
//   if (config.kernel_path.empty()) {
//     SKIFF_RETURN_IF_ERROR(UseDefaultGuest(DefaultGuestDir(getenv), config));
//   }
//
// The cache root is $SKIFF_CACHE, else $XDG_CACHE_HOME/skiff, else
// $HOME/.cache/skiff (the same rule as scripts/guest-lib.sh); the default
// guest is its default/ directory: vmlinux and initramfs.cpio.
#ifndef SKIFF_VMM_DEFAULT_GUEST_H_
#define SKIFF_VMM_DEFAULT_GUEST_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "vmm/vm_config.h"

namespace skiff {

// `getenv` looks up an environment variable (null when unset); a parameter
// so tests need not touch the process environment.
std::string DefaultGuestDir(
    const std::function<const char*(const char*)>& getenv);

// Points `config` at the default guest in `dir`; an initrd already given on
// the command line is kept. Fails with one line naming what is missing and
// how to get it.
absl::Status UseDefaultGuest(const std::string& dir, VmConfig& config);

}  // namespace skiff

#endif  // SKIFF_VMM_DEFAULT_GUEST_H_
