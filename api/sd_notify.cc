#include "api/sd_notify.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace skiff::api {

SdNotifier::SdNotifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket != nullptr && socket[0] != '\0';
}

absl::Status SdNotifier::Notify(const std::string& state) const {
  if (!enabled_) return absl::OkStatus();
  int r = sd_notify(/*unset_environment=*/0, state.c_str());
  if (r < 0) return ErrnoStatus("sd_notify", -r);
  return absl::OkStatus();
}

absl::Status SdNotifier::Ready() const { return Notify("READY=1"); }

absl::Status SdNotifier::Stopping() const { return Notify("STOPPING=1"); }

absl::Status SdNotifier::Status(absl::string_view text) const {
  std::string clean(text);
  for (char& c : clean) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = ' ';
  }
  return Notify(absl::StrCat("STATUS=", clean));
}

}  // namespace skiff::api
