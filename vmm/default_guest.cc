#include "vmm/default_guest.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"

namespace skiff {
namespace {

bool IsRegularFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string NonEmpty(const char* value) {
  return value != nullptr ? std::string(value) : std::string();
}

}  // namespace

std::string DefaultGuestDir(
    const std::function<const char*(const char*)>& getenv) {
  std::string root = NonEmpty(getenv("SKIFF_CACHE"));
  if (root.empty()) {
    std::string xdg = NonEmpty(getenv("XDG_CACHE_HOME"));
    if (xdg.empty()) {
      std::string home = NonEmpty(getenv("HOME"));
      if (home.empty()) home = "/root";
      xdg = home + "/.cache";
    }
    root = xdg + "/skiff";
  }
  return root + "/default";
}

absl::Status UseDefaultGuest(const std::string& dir, VmConfig& config) {
  const std::string kernel = dir + "/vmlinux";
  const std::string initrd = dir + "/initramfs.cpio";
  for (const std::string& path : {kernel, initrd}) {
    if (!IsRegularFile(path)) {
      return absl::NotFoundError(absl::StrCat(
          "no --kernel given and the default microVM is missing (", path,
          "): run scripts/setup, or scripts/prepare-guest, or pass --kernel"));
    }
  }
  config.kernel_path = kernel;
  if (config.initrd_path.empty()) config.initrd_path = initrd;
  return absl::OkStatus();
}

}  // namespace skiff
