// Raw bytes from a client, through the HTTP parser and the request path
// into the Firecracker API (with a fake VM): every input must get HTTP
// responses or a closed connection, never a crash. The first byte picks
// the chunk size the bytes arrive in, to exercise incremental parsing.
#include <cstddef>
#include <cstdint>
#include <string>

#include "api/fake_vm_controller.h"
#include "api/firecracker_api.h"
#include "api/http_server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = (data[0] % 64) + 1;
  skiff::api::FakeVmController fake;
  skiff::api::FirecrackerApi api(&fake);
  skiff::api::HttpHandler handler = [&api](const skiff::api::HttpRequest& r) {
    return api.Handle(r);
  };
  skiff::api::HttpConnection conn(&handler, {});
  std::string out;
  const char* p = reinterpret_cast<const char*>(data + 1);
  size_t left = size - 1;
  while (left > 0) {
    size_t n = left < chunk ? left : chunk;
    bool open = conn.Feed(std::string(p, n), &out);
    p += n;
    left -= n;
    if (!open) break;
  }
  if (!out.empty() && out.compare(0, 9, "HTTP/1.1 ") != 0) __builtin_trap();
  return 0;
}
